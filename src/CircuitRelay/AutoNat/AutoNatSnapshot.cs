using System.Text.Json;
using CircuitRelay.Adverts;
using CircuitRelay.Diagnostics;

namespace CircuitRelay.AutoNat;

/// <summary>
/// AutoNAT's view of the node at one moment (<see cref="AutoNatService.GetSnapshot"/>): the role, the run of agreeing
/// results toward a change, the probes sent and each address's reachability (AutoNAT v2). Addresses are strings, so it
/// serializes as plain JSON (<see cref="ToJson"/>).
/// </summary>
/// <param name="Time">When it was taken (the service's clock).</param>
/// <param name="Role">The node's role now (<see cref="AutoNatService.Role"/>).</param>
/// <param name="IsRoleForced">Whether the role is forced (<see cref="AutoNatServiceOptions.ForcedRole"/>), not decided by AutoNAT.</param>
/// <param name="Confidence">Agreeing results from distinct networks needed to change the role.</param>
/// <param name="RunCount">Agreeing results from distinct networks in the current run toward a change (0: none).</param>
/// <param name="RunToward">Where the current run leads (<see cref="NodeRole.Public"/> or <see cref="NodeRole.Private"/>); <see langword="null"/> when there is none.</param>
/// <param name="ProbesSent">Probes sent so far (v1 and v2).</param>
/// <param name="Addresses">Every address AutoNAT v2 has results for, ordered by address.</param>
public sealed record AutoNatSnapshot(
    DateTimeOffset Time,
    NodeRole Role,
    bool IsRoleForced,
    int Confidence,
    int RunCount,
    NodeRole? RunToward,
    long ProbesSent,
    IReadOnlyList<AddressReachabilitySnapshot> Addresses)
{
    /// <summary>The snapshot as indented JSON with camel-case names (roles as <c>"unknown"</c>, <c>"public"</c>, <c>"private"</c>).</summary>
    public string ToJson() => JsonSerializer.Serialize(this, SnapshotJsonContext.Default.AutoNatSnapshot);

    /// <summary>Reads the trackers (each read is consistent on its own; the whole is as of about <paramref name="time"/>).</summary>
    internal static AutoNatSnapshot Capture(DateTimeOffset time, NodeRole role, bool forced, ReachabilityTracker tracker, AddressReachabilityTracker addresses, long probesSent)
    {
        (int count, bool towardPublic) = tracker.Run;
        AddressReachabilitySnapshot[] states =
        [
            .. addresses.States
                .Select(e => new AddressReachabilitySnapshot(e.Key.ToString(), e.Value, addresses.RunOf(e.Key)))
                .OrderBy(a => a.Address, StringComparer.Ordinal),
        ];
        NodeRole? toward = count == 0 ? null : towardPublic ? NodeRole.Public : NodeRole.Private;
        return new AutoNatSnapshot(time, role, forced, tracker.Confidence, count, toward, probesSent, states);
    }
}

/// <summary>One address in an <see cref="AutoNatSnapshot"/>.</summary>
/// <param name="Address">The address, without <c>/p2p/&lt;id&gt;</c>.</param>
/// <param name="State">Its reachability (<see cref="AddressReachabilityTracker.StateOf"/>).</param>
/// <param name="RunCount">Agreeing results from distinct networks toward a change of it (<see cref="AddressReachabilityTracker.RunOf"/>).</param>
public sealed record AddressReachabilitySnapshot(string Address, NodeRole State, int RunCount);
