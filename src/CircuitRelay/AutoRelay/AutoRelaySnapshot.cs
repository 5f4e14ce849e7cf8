using System.Text.Json;
using System.Text.Json.Serialization;

namespace CircuitRelay.AutoRelay;

/// <summary>
/// The AutoRelay worker's state and counters at one moment (<see cref="AutoRelayService.GetSnapshot"/>): what an admin
/// endpoint or a <c>metrics</c> command shows. Peer ids and addresses are strings, so it serializes as plain JSON
/// (<see cref="ToJson"/>).
/// </summary>
/// <param name="Time">When it was taken (the injected clock).</param>
/// <param name="DesiredReservations">Automatic reservations wanted.</param>
/// <param name="HeldReservations">Live automatic reservations (static ones apart).</param>
/// <param name="Reservations">Every reservation the worker holds, static ones included.</param>
/// <param name="BookEntries">Relays in the address book.</param>
/// <param name="CandidatesBySource">Relays in the book per kind of source (a relay with several kinds counts under each).</param>
/// <param name="UsableCandidates">Relays that pass the pool's filters now.</param>
/// <param name="BackedOff">Relays in backoff now.</param>
/// <param name="PendingProbes">Candidates known only by address whose peer id is still to be learned.</param>
/// <param name="Counters">Running totals since the worker was created.</param>
public sealed record AutoRelaySnapshot(
    DateTimeOffset Time,
    int DesiredReservations,
    int HeldReservations,
    IReadOnlyList<ReservationSnapshot> Reservations,
    int BookEntries,
    IReadOnlyDictionary<string, int> CandidatesBySource,
    int UsableCandidates,
    int BackedOff,
    int PendingProbes,
    AutoRelayCounters Counters)
{
    /// <summary>The snapshot as indented JSON with camel-case names.</summary>
    public string ToJson() => JsonSerializer.Serialize(this, AutoRelayJsonContext.Default.AutoRelaySnapshot);
}

/// <summary>One reservation in an <see cref="AutoRelaySnapshot"/>.</summary>
/// <param name="Relay">The relay's peer id.</param>
/// <param name="CircuitAddresses">Its circuit addresses (<c>&lt;relay addr&gt;/p2p/&lt;relay&gt;/p2p-circuit</c>).</param>
/// <param name="ReservedAt">When it was made.</param>
/// <param name="Expires">When the relay's grant ends unless renewed.</param>
/// <param name="IsStatic">Whether it is a configured static reservation.</param>
/// <param name="IsHealthy">Whether it is live (a lost one waits for its replacement).</param>
/// <param name="Score">The relay's pool score now.</param>
public sealed record ReservationSnapshot(
    string Relay,
    IReadOnlyList<string> CircuitAddresses,
    DateTimeOffset ReservedAt,
    DateTimeOffset Expires,
    bool IsStatic,
    bool IsHealthy,
    double Score);

/// <summary>Running totals of an <see cref="AutoRelayService"/>.</summary>
/// <param name="Cycles">Selection cycles run.</param>
/// <param name="ReservationsOpened">Reservations that became live.</param>
/// <param name="ReservationsFailed">Reservation attempts that failed.</param>
/// <param name="ReservationsLost">Live reservations lost (renewal failed, expired, liveness ping unanswered).</param>
/// <param name="ReservationsClosed">Live reservations released by the worker (rotated away, or stopped).</param>
/// <param name="Rotations">Reservations rotated to a better or younger relay.</param>
/// <param name="ProbesSucceeded">Address-only candidates whose peer id and hop protocol were learned.</param>
/// <param name="ProbesFailed">Probes that failed (unreachable, no answer, or not a relay).</param>
/// <param name="LivenessFailures">Liveness pings to a reservation's relay that went unanswered or failed.</param>
public sealed record AutoRelayCounters(
    long Cycles,
    long ReservationsOpened,
    long ReservationsFailed,
    long ReservationsLost,
    long ReservationsClosed,
    long Rotations,
    long ProbesSucceeded,
    long ProbesFailed,
    long LivenessFailures);

/// <summary>Raised by <see cref="AutoRelayService"/> when a reservation became live or ended.</summary>
public sealed class AutoRelayReservationEventArgs : EventArgs
{
    /// <summary>Creates the arguments.</summary>
    public AutoRelayReservationEventArgs(PeerId relay, IReadOnlyList<Multiaddr> circuitAddresses, string? reason)
    {
        ArgumentNullException.ThrowIfNull(relay);
        ArgumentNullException.ThrowIfNull(circuitAddresses);
        Relay = relay;
        CircuitAddresses = circuitAddresses;
        Reason = reason;
    }

    /// <summary>The relay.</summary>
    public PeerId Relay { get; }

    /// <summary>The reservation's circuit addresses (<c>&lt;relay addr&gt;/p2p/&lt;relay&gt;/p2p-circuit</c>).</summary>
    public IReadOnlyList<Multiaddr> CircuitAddresses { get; }

    /// <summary>Why it ended (<c>lost: …</c>, <c>rotated</c>, <c>stopped</c>); <see langword="null"/> when it opened.</summary>
    public string? Reason { get; }
}

/// <summary>Source-generated JSON for the snapshot (no reflection; trimming-safe).</summary>
[JsonSourceGenerationOptions(WriteIndented = true, PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase)]
[JsonSerializable(typeof(AutoRelaySnapshot))]
internal sealed partial class AutoRelayJsonContext : JsonSerializerContext;
