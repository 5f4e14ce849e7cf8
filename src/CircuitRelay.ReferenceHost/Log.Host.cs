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

    [LoggerMessage(208, LogLevel.Information, "Inbound connection from {Address} refused by a gate before its handshake: {Reason}")]
    public static partial void ConnectionRefusedByGate(ILogger logger, Multiaddr address, string reason);

    [LoggerMessage(209, LogLevel.Information, "Secured inbound connection from {Peer} at {Address} refused by a gate: {Reason}")]
    public static partial void SecuredConnectionRefusedByGate(ILogger logger, PeerId peer, Multiaddr address, string reason);

    [LoggerMessage(210, LogLevel.Debug, "Inbound {Protocol} stream from {Peer} on {ConnectionId} reset by a gate: {Reason}")]
    public static partial void StreamRefusedByGate(ILogger logger, string protocol, PeerId peer, string connectionId, string reason);

    [LoggerMessage(211, LogLevel.Warning, "An inbound gate threw at stage {Stage}; the attempt from {Address} is denied")]
    public static partial void GateFailed(ILogger logger, Abstractions.InboundStage stage, Multiaddr address, Exception exception);

    [LoggerMessage(212, LogLevel.Information, "Stopped listening on {Address} ({Transport})")]
    public static partial void ListenerStopped(ILogger logger, string transport, Multiaddr address);

    [LoggerMessage(213, LogLevel.Warning, "Accepting on {Address} ({Transport}) failed; the listener stops")]
    public static partial void AcceptFailed(ILogger logger, string transport, Multiaddr address, Exception exception);

    [LoggerMessage(214, LogLevel.Information, "Inbound connection from {Address} refused: {Reason}")]
    public static partial void InboundConnectionRefusedForItsAddress(ILogger logger, Multiaddr address, string reason);

    [LoggerMessage(215, LogLevel.Information, "Idle inbound connection {ConnectionId} from {Peer} at {Address} closed: no stream for {Seconds} s")]
    public static partial void IdleConnectionClosed(ILogger logger, string connectionId, PeerId peer, Multiaddr address, long seconds);

    [LoggerMessage(216, LogLevel.Information, "Idle inbound connection {ConnectionId} from {Peer} at {Address} trimmed: {Max} inbound connections reached and a new one arrived")]
    public static partial void IdleConnectionTrimmed(ILogger logger, string connectionId, PeerId peer, Multiaddr address, int max);
}
