using CircuitRelay.Protocol;

namespace CircuitRelay.Tests.Protocol;

/// <summary>The one mapping from failures to <see cref="RelayException"/>: kind, status and message.</summary>
public sealed class RelayExceptionMappingTests
{
    [Theory]
    [InlineData(RelayStatus.ReservationRefused)]
    [InlineData(RelayStatus.NoReservation)]
    [InlineData(RelayStatus.ConnectionFailed)]
    [InlineData(RelayStatus.MalformedMessage)]
    public void FromStatus_RemoteStatus_KindRefusedWithThatStatus(RelayStatus status)
    {
        RelayException error = RelayException.FromStatus(status, "connect");

        error.Kind.Should().Be(RelayErrorKind.Refused);
        error.Status.Should().Be(status);
        error.Message.Should().EndWith($"({status.ToWireName()})");
    }

    [Fact]
    public void From_IOException_KindIoWithConnectionFailedAndTheCause()
    {
        var cause = new IOException("The stream was reset by the remote peer.");

        RelayException error = RelayException.From(cause, "reserve");

        error.Kind.Should().Be(RelayErrorKind.Io);
        error.Status.Should().Be(RelayStatus.ConnectionFailed);
        error.Message.Should().Be("reserve: The stream was reset by the remote peer.");
        error.InnerException.Should().BeSameAs(cause);
    }

    [Fact]
    public void From_OperationCanceled_KindTimeoutWithConnectionFailed()
    {
        RelayException error = RelayException.From(new OperationCanceledException(), "connect");

        error.Kind.Should().Be(RelayErrorKind.Timeout);
        error.Status.Should().Be(RelayStatus.ConnectionFailed);
        error.Message.Should().Be("connect: timed out");
    }

    [Fact]
    public void From_UndecodableFrame_KindProtocolViolationWithItsStatus()
    {
        RelayException error = RelayException.From(new ProtocolViolationException(RelayStatus.MalformedMessage, "The message is not a valid protobuf."), "reserve");

        error.Kind.Should().Be(RelayErrorKind.ProtocolViolation);
        error.Status.Should().Be(RelayStatus.MalformedMessage);
    }

    [Fact]
    public void From_RelayException_ReturnedAsIs()
    {
        RelayException refusal = RelayException.FromStatus(RelayStatus.PermissionDenied, "reserve");

        RelayException.From(refusal, "renew").Should().BeSameAs(refusal);
    }

    [Fact]
    public void RelayException_IsAnIOException()
    {
        RelayException.FromStatus(RelayStatus.NoReservation, "connect").Should().BeAssignableTo<IOException>();
    }
}
