namespace CircuitRelay.AutoNat;

/// <summary>The status of an AutoNAT v1 dial response (wire values of <c>ResponseStatus</c>).</summary>
public enum AutoNatStatus
{
    /// <summary>A dial-back succeeded: the address is reachable.</summary>
    Ok = 0,

    /// <summary>Every dial-back failed.</summary>
    DialError = 100,

    /// <summary>The server would not dial (rate limit, nothing dialable, private addresses): no signal either way.</summary>
    DialRefused = 101,

    /// <summary>The request was malformed (peer id mismatch, no peer).</summary>
    BadRequest = 200,

    /// <summary>The server failed.</summary>
    InternalError = 300,
}

/// <summary>What one AutoNAT v1 probe learned.</summary>
/// <param name="Server">The server asked.</param>
/// <param name="Status">Its answer.</param>
/// <param name="StatusText">Its explanation, if any.</param>
/// <param name="Address">The address it reached us at, on <see cref="AutoNatStatus.Ok"/>.</param>
/// <remarks>
/// <see cref="AutoNatService"/> reports AutoNAT v2 probes this way too (<see cref="Version"/> 2): reachable as
/// <see cref="AutoNatStatus.Ok"/>, unreachable as <see cref="AutoNatStatus.DialError"/>, refused or rejected as
/// <see cref="AutoNatStatus.DialRefused"/>, anything else as <see cref="AutoNatStatus.InternalError"/>; the address is
/// then the one the server tested.
/// </remarks>
public sealed record AutoNatProbeResult(PeerId Server, AutoNatStatus Status, string? StatusText, Multiaddr? Address)
{
    /// <summary>The AutoNAT version of the probe: 1 or 2.</summary>
    public int Version { get; init; } = 1;
}
