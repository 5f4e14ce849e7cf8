namespace CircuitRelay.AutoNat;

/// <summary>What an AutoNAT v2 probe says about the address the server chose.</summary>
public enum AutoNatV2Outcome
{
    /// <summary>The server dialed the address and our nonce arrived on that connection: the address is reachable.</summary>
    Reachable,

    /// <summary>The server could not connect to the address: it is not reachable.</summary>
    Unreachable,

    /// <summary>The server would dial none of the addresses (<c>E_DIAL_REFUSED</c>): no signal.</summary>
    Refused,

    /// <summary>The server rejected the request (rate limit, resources; <c>E_REQUEST_REJECTED</c>): no signal.</summary>
    Rejected,

    /// <summary>
    /// No usable answer: an internal error, an unknown status (discarded as the spec says), an invalid answer, or a
    /// claimed success whose nonce never arrived. No signal.
    /// </summary>
    Failed,
}

/// <summary>What one AutoNAT v2 probe learned.</summary>
/// <param name="Server">The server asked.</param>
/// <param name="Outcome">The reachability of <paramref name="Address"/>, or why there is none.</param>
/// <param name="Address">The address the server chose and dialed (one of those asked about), when it chose one.</param>
/// <param name="DialDataPaid">Bytes of dial data the server asked for and we sent (0 when none was asked).</param>
/// <param name="Reason">A short explanation.</param>
public sealed record AutoNatV2Result(PeerId Server, AutoNatV2Outcome Outcome, Multiaddr? Address, int DialDataPaid, string Reason)
{
    /// <summary>Whether the outcome says something about <see cref="Address"/>: reachable or unreachable.</summary>
    public bool IsSignal => Outcome is AutoNatV2Outcome.Reachable or AutoNatV2Outcome.Unreachable;
}
