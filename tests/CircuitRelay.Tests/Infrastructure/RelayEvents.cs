using Microsoft.Extensions.Logging;

namespace CircuitRelay.Tests.Infrastructure;

/// <summary>The relay's log events (ids and names as <c>Diagnostics/RelayLog.cs</c> ships them) that failure-path tests assert.</summary>
internal static class RelayEvents
{
    public static readonly EventId ReservationRefused = new(102, nameof(ReservationRefused));
    public static readonly EventId ConnectRefused = new(104, nameof(ConnectRefused));
    public static readonly EventId HopRejected = new(107, nameof(HopRejected));
    public static readonly EventId HopFailed = new(108, nameof(HopFailed));
    public static readonly EventId RenewalFailed = new(201, nameof(RenewalFailed));
    public static readonly EventId ReservationExpired = new(202, nameof(ReservationExpired));
    public static readonly EventId StopRefused = new(203, nameof(StopRefused));
}
