using System.Text.Json;
using System.Text.Json.Serialization;
using CircuitRelay.Adverts;
using CircuitRelay.AutoNat;
using CircuitRelay.AutoRelay;
using CircuitRelay.Server;

namespace CircuitRelay.Diagnostics;

/// <summary>
/// A node's state and counters at one moment, one part per component: the relay server, the AutoRelay worker, the
/// AutoNAT service and the AutoNAT servers. A part is <see langword="null"/> when the node runs no such component
/// (yet). What an admin endpoint or a <c>metrics</c> command shows: <see cref="Create"/> takes it, <see cref="ToJson"/>
/// writes it.
/// </summary>
/// <remarks>
/// The JSON is indented, with camel-case names, every part present (<c>null</c> when absent) in the order of the
/// properties here, enums as camel-case strings. Components that join the library later (DCUtR) join the snapshot as
/// new nullable parts, so a reader that ignores unknown members keeps working.
/// </remarks>
public sealed record NodeSnapshot
{
    /// <summary>When it was taken.</summary>
    public DateTimeOffset Time { get; init; }

    /// <summary>The relay server's counters (<see cref="RelayServer.GetStatistics"/>); <see langword="null"/> when the node does not serve as a relay.</summary>
    public RelayServerStatistics? Relay { get; init; }

    /// <summary>The AutoRelay worker's state (<see cref="AutoRelayService.GetSnapshot"/>); <see langword="null"/> when the node runs none.</summary>
    public AutoRelaySnapshot? AutoRelay { get; init; }

    /// <summary>AutoNAT's view of the node (<see cref="AutoNatService.GetSnapshot"/>); <see langword="null"/> when the node runs no AutoNAT service.</summary>
    public AutoNatSnapshot? AutoNat { get; init; }

    /// <summary>What this node's AutoNAT servers answered others; <see langword="null"/> when it runs neither.</summary>
    public AutoNatServersSnapshot? AutoNatServers { get; init; }

    /// <summary>Takes a snapshot of the components given (each may be <see langword="null"/>: its part is then <see langword="null"/>).</summary>
    /// <param name="timeProvider">The clock <see cref="Time"/> is read from.</param>
    /// <param name="relay">The relay server.</param>
    /// <param name="autoRelay">The AutoRelay worker.</param>
    /// <param name="autoNat">The AutoNAT service (the node's own reachability).</param>
    /// <param name="autoNatServer">The AutoNAT v1 server.</param>
    /// <param name="autoNatV2Server">The AutoNAT v2 server.</param>
    public static NodeSnapshot Create(
        TimeProvider timeProvider,
        RelayServer? relay,
        AutoRelayService? autoRelay,
        AutoNatService? autoNat,
        AutoNatServer? autoNatServer,
        AutoNatV2Server? autoNatV2Server)
    {
        ArgumentNullException.ThrowIfNull(timeProvider);
        return new NodeSnapshot
        {
            Time = timeProvider.GetUtcNow(),
            Relay = relay?.GetStatistics(),
            AutoRelay = autoRelay?.GetSnapshot(),
            AutoNat = autoNat?.GetSnapshot(),
            AutoNatServers = autoNatServer is null && autoNatV2Server is null
                ? null
                : new AutoNatServersSnapshot(
                    autoNatServer is null ? null : new AutoNatServerCounters(autoNatServer.RequestsServed, autoNatServer.RequestsRefused),
                    autoNatV2Server is null ? null : new AutoNatServerCounters(autoNatV2Server.RequestsServed, autoNatV2Server.RequestsRefused)),
        };
    }

    /// <summary>The snapshot as indented JSON with camel-case names.</summary>
    public string ToJson() => JsonSerializer.Serialize(this, SnapshotJsonContext.Default.NodeSnapshot);
}

/// <summary>The AutoNAT servers' part of a <see cref="NodeSnapshot"/>.</summary>
/// <param name="V1">The v1 server's counters (<see cref="AutoNatServer"/>); <see langword="null"/> when it does not run.</param>
/// <param name="V2">The v2 server's counters (<see cref="AutoNatV2Server"/>); <see langword="null"/> when it does not run.</param>
public sealed record AutoNatServersSnapshot(AutoNatServerCounters? V1, AutoNatServerCounters? V2);

/// <summary>Running totals of one AutoNAT server.</summary>
/// <param name="RequestsServed">Requests answered with a dial-back result.</param>
/// <param name="RequestsRefused">Requests refused (rate limits, nothing dialable, malformed).</param>
public sealed record AutoNatServerCounters(long RequestsServed, long RequestsRefused);

/// <summary>Source-generated JSON for the snapshots (no reflection; trimming-safe): indented, camel-case, enums as camel-case strings.</summary>
[JsonSourceGenerationOptions(
    WriteIndented = true,
    PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    Converters = [typeof(CamelCaseEnumConverter<NodeRole>), typeof(CamelCaseEnumConverter<RelayLoadLevel>)])]
[JsonSerializable(typeof(NodeSnapshot))]
[JsonSerializable(typeof(AutoNatSnapshot))]
internal sealed partial class SnapshotJsonContext : JsonSerializerContext;

/// <summary>Writes an enum as its camel-case name (<c>"public"</c>, <c>"refusing"</c>).</summary>
internal sealed class CamelCaseEnumConverter<TEnum>() : JsonStringEnumConverter<TEnum>(JsonNamingPolicy.CamelCase)
    where TEnum : struct, Enum;
