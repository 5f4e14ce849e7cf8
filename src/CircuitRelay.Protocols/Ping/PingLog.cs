using Microsoft.Extensions.Logging;

namespace CircuitRelay.Protocols.Ping;

/// <summary>Ping events (ids 3100-3199). Method names ship as event names: do not rename them.</summary>
internal static partial class PingLog
{
    [LoggerMessage(EventId = 3100, Level = LogLevel.Debug, Message = "Refused a ping stream from {Peer}: it already has {Limit} open")]
    public static partial void InboundStreamRefused(ILogger logger, PeerId peer, int limit);

    [LoggerMessage(EventId = 3101, Level = LogLevel.Debug, Message = "Inbound ping stream from {Peer} failed; resetting it")]
    public static partial void InboundStreamFailed(ILogger logger, PeerId peer, Exception exception);

    [LoggerMessage(EventId = 3102, Level = LogLevel.Debug, Message = "Inbound ping stream from {Peer} ended after {Rounds} rounds")]
    public static partial void InboundStreamEnded(ILogger logger, PeerId peer, int rounds);

    [LoggerMessage(EventId = 3103, Level = LogLevel.Debug, Message = "Ping to {Peer}: {RoundTripTime}")]
    public static partial void PingSucceeded(ILogger logger, PeerId peer, TimeSpan roundTripTime);

    [LoggerMessage(EventId = 3104, Level = LogLevel.Debug, Message = "Ping to {Peer} failed")]
    public static partial void PingFailed(ILogger logger, PeerId peer, Exception exception);
}
