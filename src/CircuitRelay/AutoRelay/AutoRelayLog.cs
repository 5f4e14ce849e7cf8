using Microsoft.Extensions.Logging;

namespace CircuitRelay.AutoRelay;

/// <summary>Log events of the AutoRelay worker (ids 500–509; names ship as event names).</summary>
internal static partial class AutoRelayLog
{
    [LoggerMessage(500, LogLevel.Information, "Reserved on relay {Relay} (score {Score:F2}, {RoundTripMs} ms)")]
    public static partial void Reserved(ILogger logger, PeerId relay, double score, long roundTripMs);

    [LoggerMessage(501, LogLevel.Debug, "Reservation on relay {Relay} failed, backing off until {Until:O}: {Reason}")]
    public static partial void ReserveFailed(ILogger logger, PeerId relay, DateTimeOffset until, string reason);

    [LoggerMessage(502, LogLevel.Information, "Reservation on relay {Relay} lost: {Reason}")]
    public static partial void Lost(ILogger logger, PeerId relay, string reason);

    [LoggerMessage(503, LogLevel.Information, "Rotating off relay {Relay}: a better or younger reservation is live on {Replacement}")]
    public static partial void Rotated(ILogger logger, PeerId relay, PeerId replacement);

    [LoggerMessage(504, LogLevel.Warning, "{Held} of {Desired} reservations held; no candidate left")]
    public static partial void Short(ILogger logger, int held, int desired);

    [LoggerMessage(505, LogLevel.Information, "Probed relay candidate {Address}: it is {Relay} and serves the hop protocol")]
    public static partial void Probed(ILogger logger, Multiaddr address, PeerId relay);

    [LoggerMessage(506, LogLevel.Debug, "Probing relay candidate {Address} failed, next attempt at {Next:O}: {Reason}")]
    public static partial void ProbeFailed(ILogger logger, Multiaddr address, DateTimeOffset next, string reason);
}
