using Microsoft.Extensions.Logging;

namespace CircuitRelay.ReferenceHost;

/// <content>Yamux events (ids 100-199).</content>
internal static partial class Log
{
    [LoggerMessage(EventId = 100, Level = LogLevel.Debug, Message = "Yamux {Role} session closing: {Reason}")]
    public static partial void YamuxSessionClosing(ILogger logger, string role, string reason);

    [LoggerMessage(EventId = 101, Level = LogLevel.Warning, Message = "Yamux peer broke the protocol: {Detail}")]
    public static partial void YamuxProtocolViolation(ILogger logger, string detail);

    [LoggerMessage(EventId = 102, Level = LogLevel.Debug, Message = "Refused inbound Yamux stream {StreamId}: {Reason}")]
    public static partial void YamuxInboundStreamRefused(ILogger logger, uint streamId, string reason);

    [LoggerMessage(EventId = 103, Level = LogLevel.Debug, Message = "Yamux keep-alive ping went unanswered; closing the session")]
    public static partial void YamuxKeepAliveTimeout(ILogger logger);

    [LoggerMessage(EventId = 104, Level = LogLevel.Warning, Message = "Yamux control queue exceeded {Limit} frames: the peer does not read; closing the session")]
    public static partial void YamuxControlQueueOverflow(ILogger logger, int limit);
}
