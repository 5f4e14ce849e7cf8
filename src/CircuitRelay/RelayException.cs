namespace CircuitRelay;

/// <summary>
/// A Circuit Relay v2 operation failed. <see cref="Status"/> carries the wire status the remote sent
/// (or that the local side decided), so callers can tell a refusal from a broken peer.
/// </summary>
/// <remarks>
/// I/O failures underneath (connection lost, stream reset) surface as a <see cref="RelayException"/>
/// with <see cref="RelayStatus.ConnectionFailed"/> and the original exception as
/// <see cref="Exception.InnerException"/>.
/// </remarks>
public sealed class RelayException : IOException
{
    /// <summary>Creates an exception for <paramref name="status"/>.</summary>
    public RelayException(RelayStatus status, string message, Exception? innerException = null)
        : base(message, innerException)
    {
        Status = status;
    }

    /// <summary>The wire status.</summary>
    public RelayStatus Status { get; }

    /// <summary>The one place that maps a wire status to an exception message.</summary>
    internal static RelayException FromStatus(RelayStatus status, string operation) => new(status, status switch
    {
        RelayStatus.ReservationRefused => $"{operation}: the relay refused the reservation (RESERVATION_REFUSED)",
        RelayStatus.ResourceLimitExceeded => $"{operation}: a resource limit was exceeded (RESOURCE_LIMIT_EXCEEDED)",
        RelayStatus.PermissionDenied => $"{operation}: permission denied (PERMISSION_DENIED)",
        RelayStatus.ConnectionFailed => $"{operation}: connection failed (CONNECTION_FAILED)",
        RelayStatus.NoReservation => $"{operation}: the target has no reservation on the relay (NO_RESERVATION)",
        RelayStatus.MalformedMessage => $"{operation}: malformed message (MALFORMED_MESSAGE)",
        RelayStatus.UnexpectedMessage => $"{operation}: unexpected message (UNEXPECTED_MESSAGE)",
        _ => $"{operation}: failed with status {(int)status}",
    });
}
