using CircuitRelay.Protocol;

namespace CircuitRelay;

/// <summary>What kind of failure a <see cref="RelayException"/> reports.</summary>
/// <remarks>
/// A caller tells the four apart without reading <see cref="Exception.InnerException"/>: a refusal is an answer
/// (retrying the same request is usually pointless; <see cref="RelayException.Status"/> says why), an I/O failure
/// or a timeout says nothing about the remote's will (retrying later, or elsewhere, may work), and a protocol
/// violation means the remote is broken or incompatible.
/// </remarks>
public enum RelayErrorKind
{
    /// <summary>
    /// The remote answered with a non-OK wire status: <see cref="RelayException.Status"/> is that status, as sent.
    /// A relay that could not reach the target answers <see cref="RelayStatus.ConnectionFailed"/>, which is a refusal too.
    /// </summary>
    Refused,

    /// <summary>
    /// The connection or stream failed (unreachable, dropped, reset, ended before the answer).
    /// <see cref="RelayException.Status"/> is <see cref="RelayStatus.ConnectionFailed"/>.
    /// </summary>
    Io,

    /// <summary>
    /// No answer arrived in time (the operation's timeout on the injected clock, not the caller's token: a cancelled
    /// caller sees <see cref="OperationCanceledException"/>). <see cref="RelayException.Status"/> is
    /// <see cref="RelayStatus.ConnectionFailed"/>.
    /// </summary>
    Timeout,

    /// <summary>
    /// The remote broke the protocol: an undecodable or oversized message, a wrong message type, an unknown status, a
    /// missing field, or a reservation or voucher that does not validate. <see cref="RelayException.Status"/> is
    /// <see cref="RelayStatus.MalformedMessage"/> or <see cref="RelayStatus.UnexpectedMessage"/> (what the spec
    /// would answer such a message with).
    /// </summary>
    ProtocolViolation,
}

/// <summary>
/// A Circuit Relay v2 operation failed. <see cref="Kind"/> says what happened (a refusal by the remote, an I/O
/// failure, a timeout, a protocol violation by the remote); <see cref="Status"/> carries the wire status.
/// </summary>
/// <remarks>
/// <para>For <see cref="RelayErrorKind.Refused"/>, <see cref="Status"/> is the status the remote sent. For
/// <see cref="RelayErrorKind.Io"/> and <see cref="RelayErrorKind.Timeout"/> it is
/// <see cref="RelayStatus.ConnectionFailed"/>; for <see cref="RelayErrorKind.ProtocolViolation"/> it is
/// <see cref="RelayStatus.MalformedMessage"/> or <see cref="RelayStatus.UnexpectedMessage"/>. The message says what
/// happened; the underlying exception, if any, is kept as <see cref="Exception.InnerException"/>.</para>
/// <para>It is an <see cref="IOException"/>, so code that treats every network failure alike keeps working.</para>
/// </remarks>
public sealed class RelayException : IOException
{
    /// <summary>Creates an exception of <paramref name="kind"/> with <paramref name="status"/>.</summary>
    /// <param name="kind">What happened.</param>
    /// <param name="status">The wire status (the remote's for <see cref="RelayErrorKind.Refused"/>).</param>
    /// <param name="message">What happened, for people.</param>
    /// <param name="innerException">The underlying failure, if any.</param>
    public RelayException(RelayErrorKind kind, RelayStatus status, string message, Exception? innerException = null)
        : base(message, innerException)
    {
        Kind = kind;
        Status = status;
    }

    /// <summary>What kind of failure this is.</summary>
    public RelayErrorKind Kind { get; }

    /// <summary>The wire status: the remote's for a refusal, otherwise the status that describes the failure.</summary>
    public RelayStatus Status { get; }

    // The one place that turns relay failures into exceptions: refusals, protocol violations and the exceptions
    // thrown underneath (streams fail only with IOException or OperationCanceledException, see ILibp2pStream).

    /// <summary>The remote answered <paramref name="status"/> (not OK) to <paramref name="operation"/>.</summary>
    internal static RelayException FromStatus(RelayStatus status, string operation) => new(RelayErrorKind.Refused, status, status switch
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

    /// <summary>The remote broke the protocol; <paramref name="status"/> is what the spec answers such a message with.</summary>
    internal static RelayException ProtocolViolation(RelayStatus status, string message, Exception? innerException = null)
        => new(RelayErrorKind.ProtocolViolation, status, message, innerException);

    /// <summary>
    /// Maps a failure underneath <paramref name="operation"/>. The caller filters out its own cancellation first:
    /// an <see cref="OperationCanceledException"/> that reaches here is a timeout.
    /// </summary>
    /// <param name="exception">A <see cref="RelayException"/> (returned as is), an undecodable frame, an I/O failure or a timeout.</param>
    /// <param name="operation">What was being done, the start of the message (<c>reserve</c>, <c>connect</c>, ...).</param>
    internal static RelayException From(Exception exception, string operation) => exception switch
    {
        RelayException relay => relay,
        ProtocolViolationException violation => ProtocolViolation(violation.Status, $"{operation}: {violation.Message}", violation),
        OperationCanceledException or TimeoutException => new(RelayErrorKind.Timeout, RelayStatus.ConnectionFailed, $"{operation}: timed out", exception),
        _ => new(RelayErrorKind.Io, RelayStatus.ConnectionFailed, $"{operation}: {exception.Message}", exception),
    };
}
