namespace CircuitRelay;

/// <summary>
/// Circuit Relay v2 status codes, with the wire values of the <c>Status</c> enum of
/// <c>circuit-v2.md</c>.
/// </summary>
public enum RelayStatus
{
    /// <summary>Success.</summary>
    Ok = 100,

    /// <summary>The relay refused the reservation (for example: too many reservations).</summary>
    ReservationRefused = 200,

    /// <summary>A resource limit was hit (circuits per peer, rate limit, accept backlog, ...).</summary>
    ResourceLimitExceeded = 201,

    /// <summary>An access-control rule refused the request, or it arrived over a relayed connection.</summary>
    PermissionDenied = 202,

    /// <summary>The relay could not complete the stop leg, or the target could not accept.</summary>
    ConnectionFailed = 203,

    /// <summary>The target holds no reservation on the relay (or, at the target, we hold none on that relay).</summary>
    NoReservation = 204,

    /// <summary>The message could not be read or decoded, or a required field was missing.</summary>
    MalformedMessage = 400,

    /// <summary>The message had a type the receiver does not expect here.</summary>
    UnexpectedMessage = 401,
}

/// <summary>Names of <see cref="RelayStatus"/> values.</summary>
public static class RelayStatusExtensions
{
    /// <summary>
    /// The status as the spec's <c>Status</c> enum names it (<c>NO_RESERVATION</c>, <c>RESOURCE_LIMIT_EXCEEDED</c>, ...),
    /// or the number for a value the spec does not define. The one place that names statuses: exception messages,
    /// metric tags and logs all use it.
    /// </summary>
    public static string ToWireName(this RelayStatus status) => status switch
    {
        RelayStatus.Ok => "OK",
        RelayStatus.ReservationRefused => "RESERVATION_REFUSED",
        RelayStatus.ResourceLimitExceeded => "RESOURCE_LIMIT_EXCEEDED",
        RelayStatus.PermissionDenied => "PERMISSION_DENIED",
        RelayStatus.ConnectionFailed => "CONNECTION_FAILED",
        RelayStatus.NoReservation => "NO_RESERVATION",
        RelayStatus.MalformedMessage => "MALFORMED_MESSAGE",
        RelayStatus.UnexpectedMessage => "UNEXPECTED_MESSAGE",
        _ => ((int)status).ToString(System.Globalization.CultureInfo.InvariantCulture),
    };
}
