using Microsoft.Extensions.Logging;

namespace CircuitRelay.Adverts;

/// <summary>Log events of the advert gossip (ids 400–409; names ship as event names).</summary>
internal static partial class AdvertLog
{
    [LoggerMessage(400, LogLevel.Debug, "Sent {Count} relay adverts to {Peer}")]
    public static partial void Pushed(ILogger logger, PeerId peer, int count);

    [LoggerMessage(401, LogLevel.Debug, "Received {Stored} of {Received} relay adverts from {Peer}")]
    public static partial void Received(ILogger logger, PeerId peer, int received, int stored);

    [LoggerMessage(402, LogLevel.Information, "{Peer} dropped from advert gossip until {Until:O}: {Reason}")]
    public static partial void PeerBanned(ILogger logger, PeerId peer, DateTimeOffset until, string reason);

    [LoggerMessage(403, LogLevel.Debug, "Relay adverts from {Peer} over its rate limit were dropped")]
    public static partial void RateLimited(ILogger logger, PeerId peer);

    [LoggerMessage(404, LogLevel.Debug, "Advert gossip with {Peer} failed: {Reason}")]
    public static partial void ExchangeFailed(ILogger logger, PeerId peer, string reason);
}
