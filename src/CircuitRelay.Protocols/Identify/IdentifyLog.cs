using Microsoft.Extensions.Logging;

namespace CircuitRelay.Protocols.Identify;

/// <summary>Identify events (ids 3000-3099). Method names ship as event names: do not rename them.</summary>
internal static partial class IdentifyLog
{
    [LoggerMessage(EventId = 3000, Level = LogLevel.Debug, Message = "Sent Identify ({Protocol}) to {Peer} on connection {ConnectionId}")]
    public static partial void IdentifySent(ILogger logger, string protocol, PeerId peer, string connectionId);

    [LoggerMessage(EventId = 3001, Level = LogLevel.Debug, Message = "Identified {Peer} on connection {ConnectionId}: agent {AgentVersion}, {ProtocolCount} protocols, {AddressCount} listen addresses")]
    public static partial void PeerIdentified(ILogger logger, PeerId peer, string connectionId, string? agentVersion, int protocolCount, int addressCount);

    [LoggerMessage(EventId = 3002, Level = LogLevel.Debug, Message = "Identify push from {Peer} on connection {ConnectionId} merged")]
    public static partial void PushReceived(ILogger logger, PeerId peer, string connectionId);

    [LoggerMessage(EventId = 3003, Level = LogLevel.Debug, Message = "Inbound {Protocol} stream from {Peer} failed; resetting it")]
    public static partial void InboundStreamFailed(ILogger logger, string protocol, PeerId peer, Exception exception);

    [LoggerMessage(EventId = 3004, Level = LogLevel.Debug, Message = "Identify push to {Peer} failed")]
    public static partial void PushFailed(ILogger logger, PeerId peer, Exception exception);

    [LoggerMessage(EventId = 3005, Level = LogLevel.Debug, Message = "Identify message trimmed to {MaxSize} bytes: dropped {Addresses} listen addresses and {Protocols} protocols")]
    public static partial void MessageTrimmed(ILogger logger, int maxSize, int addresses, int protocols);

    [LoggerMessage(EventId = 3006, Level = LogLevel.Warning, Message = "An Identified event subscriber threw for {Peer}")]
    public static partial void SubscriberFailed(ILogger logger, PeerId peer, Exception exception);

    [LoggerMessage(EventId = 3007, Level = LogLevel.Debug, Message = "{Peer} observes us at {Address}")]
    public static partial void AddressObserved(ILogger logger, PeerId peer, Multiaddr address);

    [LoggerMessage(EventId = 3008, Level = LogLevel.Debug, Message = "Identifying {Peer} failed")]
    public static partial void IdentifyFailed(ILogger logger, PeerId peer, Exception exception);

    [LoggerMessage(EventId = 3009, Level = LogLevel.Debug, Message = "Forgot the Identify information of {Peer}: no connection remains")]
    public static partial void PeerForgotten(ILogger logger, PeerId peer);
}
