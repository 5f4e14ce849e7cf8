using Microsoft.Extensions.Logging;

namespace CircuitRelay.ReferenceHost;

internal static partial class Log
{
    // Host: 200-299
    [LoggerMessage(200, LogLevel.Information, "Listening on {Address}")]
    public static partial void Listening(ILogger logger, Multiaddr address);

    [LoggerMessage(201, LogLevel.Debug, "Connection {ConnectionId} {Direction} to {Peer} at {Address} established (relayed: {Relayed})")]
    public static partial void ConnectionEstablished(ILogger logger, string connectionId, Abstractions.ConnectionDirection direction, PeerId peer, Multiaddr address, bool relayed);

    [LoggerMessage(202, LogLevel.Debug, "Connection {ConnectionId} to {Peer} closed")]
    public static partial void ConnectionClosed(ILogger logger, string connectionId, PeerId peer);

    [LoggerMessage(203, LogLevel.Warning, "Handshake with {Address} failed: {Reason}")]
    public static partial void HandshakeFailed(ILogger logger, Multiaddr address, string reason);

    [LoggerMessage(204, LogLevel.Debug, "Inbound stream on {ConnectionId} refused: {Reason}")]
    public static partial void StreamRefused(ILogger logger, string connectionId, string reason);

    [LoggerMessage(205, LogLevel.Warning, "Stream handler for {Protocol} failed")]
    public static partial void HandlerFailed(ILogger logger, string protocol, Exception exception);

    [LoggerMessage(206, LogLevel.Debug, "Accepting relayed connections through {Relay} stopped")]
    public static partial void RelayListenerStopped(ILogger logger, PeerId relay);

    [LoggerMessage(207, LogLevel.Warning, "Inbound connection from {Address} refused: {Max} inbound TCP connections already open or upgrading (MaxInboundConnections)")]
    public static partial void InboundConnectionRefused(ILogger logger, Multiaddr address, int max);
}
