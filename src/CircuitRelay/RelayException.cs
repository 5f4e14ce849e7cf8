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
        RelayStatus.ReservationRefused => $"{operation}: the relay refused the reservation",
        RelayStatus.ResourceLimitExceeded => $"{operation}: a resource limit was exceeded",
        RelayStatus.PermissionDenied => $"{operation}: permission denied",
        RelayStatus.ConnectionFailed => $"{operation}: connection failed",
        RelayStatus.NoReservation => $"{operation}: the target has no reservation on the relay",
        RelayStatus.MalformedMessage => $"{operation}: malformed message",
        RelayStatus.UnexpectedMessage => $"{operation}: unexpected message",
        _ => $"{operation}: failed",
    } + $" ({status.ToWireName()})");
}
