using Microsoft.Extensions.Logging;

namespace CircuitRelay.AutoNat;

/// <summary>Log events of AutoNAT (ids 600–609).</summary>
internal static partial class AutoNatLog
{
    [LoggerMessage(600, LogLevel.Debug, "AutoNAT request from {Peer} answered {Status}: {Text}")]
    public static partial void Answered(ILogger logger, PeerId peer, AutoNatStatus status, string text);

    [LoggerMessage(601, LogLevel.Debug, "AutoNAT dial-back to {Peer} at {Address} failed: {Reason}")]
    public static partial void DialBackFailed(ILogger logger, PeerId peer, Multiaddr address, string reason);

    [LoggerMessage(602, LogLevel.Information, "Reachability {Previous} -> {Current}: {Explanation}")]
    public static partial void ReachabilityChanged(ILogger logger, Adverts.NodeRole previous, Adverts.NodeRole current, string explanation);

    [LoggerMessage(603, LogLevel.Debug, "AutoNAT probe to {Server} failed: {Reason}")]
    public static partial void ProbeFailed(ILogger logger, PeerId server, string reason);

    [LoggerMessage(604, LogLevel.Debug, "AutoNAT v2 request from {Peer} answered {Status} (dial {DialStatus}): {Reason}")]
    public static partial void V2Answered(ILogger logger, PeerId peer, string status, string dialStatus, string reason);

    [LoggerMessage(605, LogLevel.Debug, "AutoNAT v2 dial-back from {Peer} at {Address} with a nonce we never sent: reset")]
    public static partial void UnknownNonce(ILogger logger, PeerId peer, Multiaddr address);

    [LoggerMessage(606, LogLevel.Information, "Address {Address} is {Current} (was {Previous}): {Explanation}")]
    public static partial void AddressReachabilityChanged(ILogger logger, Multiaddr address, Adverts.NodeRole previous, Adverts.NodeRole current, string explanation);

    [LoggerMessage(607, LogLevel.Information, "Role {Role} applied: serving as a relay {Serving}, reserving through relays {Reserving}")]
    public static partial void RoleApplied(ILogger logger, Adverts.NodeRole role, bool serving, bool reserving);

    [LoggerMessage(608, LogLevel.Warning, "Applying role {Role} failed: {Reason}")]
    public static partial void RoleFailed(ILogger logger, Adverts.NodeRole role, string reason);
}
