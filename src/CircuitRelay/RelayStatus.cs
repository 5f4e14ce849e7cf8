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
