using CircuitRelay.Abstractions;
using CircuitRelay.Multiformats;
using CircuitRelay.Protocol;
using CircuitRelay.Protocol.Pb;
using CircuitRelay.Tests.Infrastructure;
using Google.Protobuf;

namespace CircuitRelay.Tests.Relay;

/// <summary>
/// A caller tells a relay's refusal from a dropped connection, a timeout and a protocol violation by
/// <see cref="RelayException.Kind"/>, over the reference host and the memory transport (a real relay, or a scripted fake one).
/// </summary>
public sealed class ErrorKindTests
{
    [Fact]
    public async Task ReserveAsync_RelayFull_KindRefusedWithReservationRefused()
    {
        await using var fixture = RelayFixture.Create(o => o.MaxReservations = 1);
        await fixture.CreateNode().Client.ReserveAsync(fixture.RelayId, [fixture.RelayAddress]).Within();

        Func<Task> act = () => fixture.CreateNode().Client.ReserveAsync(fixture.RelayId, [fixture.RelayAddress]);

        AssertKind(await act.Should().ThrowAsync<RelayException>().Within(), RelayErrorKind.Refused, RelayStatus.ReservationRefused);
    }

    [Fact]
    public async Task ConnectAsync_TargetWithoutReservation_KindRefusedWithNoReservation()
    {
        await using var fixture = RelayFixture.Create();
        TestNode target = fixture.CreateNode();

        Func<Task> act = () => fixture.CreateNode().Client.ConnectAsync(fixture.RelayId, target.Id, [fixture.RelayAddress]);

        AssertKind(await act.Should().ThrowAsync<RelayException>().Within(), RelayErrorKind.Refused, RelayStatus.NoReservation);
    }

    [Fact]
    public async Task ConnectAsync_TargetAnswersGarbage_KindRefusedWithTheRelaysConnectionFailed()
    {
        await using var fixture = RelayFixture.Create();
        TestNode target = await fixture.CreateTargetAnsweringGarbageAsync();

        Func<Task> act = () => fixture.CreateNode().Client.ConnectAsync(fixture.RelayId, target.Id, [fixture.RelayAddress]);

        // The target broke the protocol toward the relay; the relay's answer to us is a refusal.
        AssertKind(await act.Should().ThrowAsync<RelayException>().Within(), RelayErrorKind.Refused, RelayStatus.ConnectionFailed);
    }

    [Fact]
    public async Task ReserveAsync_RelayDropsConnectionMidRequest_KindIo()
    {
        await using var fixture = RelayFixture.Create();
        TestNode fake = FakeRelay(fixture, async (host, stream) =>
        {
            await MessageIO.ReadHopAsync(stream.Input, CancellationToken.None);
            await host.DisconnectAsync(stream.Connection.RemotePeer);
        });

        Func<Task> act = () => fixture.CreateNode().Client.ReserveAsync(fake.Id, [fake.Host.Addresses[0]]);

        AssertKind(await act.Should().ThrowAsync<RelayException>().Within(), RelayErrorKind.Io, RelayStatus.ConnectionFailed);
    }

    [Fact]
    public async Task ConnectAsync_RelayDropsConnectionMidRequest_KindIo()
    {
        await using var fixture = RelayFixture.Create();
        TestNode fake = FakeRelay(fixture, async (host, stream) =>
        {
            await MessageIO.ReadHopAsync(stream.Input, CancellationToken.None);
            await host.DisconnectAsync(stream.Connection.RemotePeer);
        });

        Func<Task> act = () => fixture.CreateNode().Client.ConnectAsync(fake.Id, fixture.CreateNode().Id, [fake.Host.Addresses[0]]);

        AssertKind(await act.Should().ThrowAsync<RelayException>().Within(), RelayErrorKind.Io, RelayStatus.ConnectionFailed);
    }

    [Fact]
    public async Task ConnectAsync_RelayUnreachable_KindIo()
    {
        await using var fixture = RelayFixture.Create();
        TestNode relay = fixture.CreateNode();
        relay.Host.AddGate(new DenyGate(InboundStage.Connection)); // reset before the handshake, as behind a firewall

        Func<Task> act = () => fixture.CreateNode().Client.ConnectAsync(relay.Id, fixture.CreateNode().Id, [relay.Host.Addresses[0]]);

        AssertKind(await act.Should().ThrowAsync<RelayException>().Within(), RelayErrorKind.Io, RelayStatus.ConnectionFailed);
    }

    [Fact]
    public async Task ReserveAsync_RelayNeverAnswers_KindTimeoutAfterReserveTimeout()
    {
        await using var fixture = RelayFixture.Create(client: o => o.ReserveTimeout = TimeSpan.FromSeconds(20));
        var requested = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        TestNode fake = FakeRelay(fixture, async (_, stream) =>
        {
            await MessageIO.ReadHopAsync(stream.Input, CancellationToken.None);
            requested.TrySetResult(); // and never answer
        });
        Task<Client.RelayReservation> reserve = fixture.CreateNode().Client.ReserveAsync(fake.Id, [fake.Host.Addresses[0]]);
        await requested.Task.Within();

        fixture.Time.Advance(TimeSpan.FromSeconds(20));

        AssertKind(await reserve.Awaiting(r => r).Should().ThrowAsync<RelayException>().Within(), RelayErrorKind.Timeout, RelayStatus.ConnectionFailed);
    }

    [Fact]
    public async Task ConnectAsync_RelayNeverAnswers_KindTimeoutAfterConnectTimeout()
    {
        await using var fixture = RelayFixture.Create(client: o => o.ConnectTimeout = TimeSpan.FromSeconds(20));
        var requested = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        TestNode fake = FakeRelay(fixture, async (_, stream) =>
        {
            await MessageIO.ReadHopAsync(stream.Input, CancellationToken.None);
            requested.TrySetResult(); // and never answer
        });
        Task<Transport.RelayedConnection> connect = fixture.CreateNode().Client.ConnectAsync(fake.Id, fixture.CreateNode().Id, [fake.Host.Addresses[0]]);
        await requested.Task.Within();

        fixture.Time.Advance(TimeSpan.FromSeconds(20));

        AssertKind(await connect.Awaiting(c => c).Should().ThrowAsync<RelayException>().Within(), RelayErrorKind.Timeout, RelayStatus.ConnectionFailed);
    }

    [Fact]
    public async Task ReserveAsync_CallerCancels_ThrowsOperationCanceledNotRelayException()
    {
        await using var fixture = RelayFixture.Create();
        var requested = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        TestNode fake = FakeRelay(fixture, async (_, stream) =>
        {
            await MessageIO.ReadHopAsync(stream.Input, CancellationToken.None);
            requested.TrySetResult();
        });
        using var cancel = new CancellationTokenSource();
        Task<Client.RelayReservation> reserve = fixture.CreateNode().Client.ReserveAsync(fake.Id, [fake.Host.Addresses[0]], cancel.Token);
        await requested.Task.Within();

        await cancel.CancelAsync();

        (await reserve.Awaiting(r => r).Should().ThrowAsync<OperationCanceledException>().Within()).Which.Should().NotBeOfType<RelayException>();
    }

    [Fact]
    public async Task ReserveAsync_RelayAnswersGarbage_KindProtocolViolationWithMalformedMessage()
    {
        await using var fixture = RelayFixture.Create();
        TestNode fake = FakeRelay(fixture, async (_, stream) =>
        {
            await MessageIO.ReadHopAsync(stream.Input, CancellationToken.None);
            await stream.Output.WriteAsync(new byte[] { 0x02, 0xff, 0xff });
            await stream.DisposeAsync();
        });

        Func<Task> act = () => fixture.CreateNode().Client.ReserveAsync(fake.Id, [fake.Host.Addresses[0]]);

        AssertKind(await act.Should().ThrowAsync<RelayException>().Within(), RelayErrorKind.ProtocolViolation, RelayStatus.MalformedMessage);
    }

    [Fact]
    public async Task ReserveAsync_RelayAnswersOversizedFrame_KindProtocolViolationWithMalformedMessage()
    {
        await using var fixture = RelayFixture.Create();
        TestNode fake = FakeRelay(fixture, async (_, stream) =>
        {
            await MessageIO.ReadHopAsync(stream.Input, CancellationToken.None);
            await stream.Output.WriteAsync(Varint.Encode((ulong)RelayProtocol.MaxMessageSize + 1));
            await stream.DisposeAsync();
        });

        Func<Task> act = () => fixture.CreateNode().Client.ReserveAsync(fake.Id, [fake.Host.Addresses[0]]);

        AssertKind(await act.Should().ThrowAsync<RelayException>().Within(), RelayErrorKind.ProtocolViolation, RelayStatus.MalformedMessage);
    }

    [Fact]
    public async Task ConnectAsync_RelayAnswersWrongMessageType_KindProtocolViolationWithUnexpectedMessage()
    {
        await using var fixture = RelayFixture.Create();
        TestNode fake = FakeRelay(fixture, (_, stream) => AnswerAsync(stream, new HopMessage { Type = HopMessage.Types.Type.Connect }));

        Func<Task> act = () => fixture.CreateNode().Client.ConnectAsync(fake.Id, fixture.CreateNode().Id, [fake.Host.Addresses[0]]);

        AssertKind(await act.Should().ThrowAsync<RelayException>().Within(), RelayErrorKind.ProtocolViolation, RelayStatus.UnexpectedMessage);
    }

    [Fact]
    public async Task ConnectAsync_RelayAnswersUnknownStatus_KindProtocolViolationWithMalformedMessage()
    {
        await using var fixture = RelayFixture.Create();
        TestNode fake = FakeRelay(fixture, (_, stream) => AnswerAsync(stream, new HopMessage { Type = HopMessage.Types.Type.Status, Status = (Status)999 }));

        Func<Task> act = () => fixture.CreateNode().Client.ConnectAsync(fake.Id, fixture.CreateNode().Id, [fake.Host.Addresses[0]]);

        AssertKind(await act.Should().ThrowAsync<RelayException>().Within(), RelayErrorKind.ProtocolViolation, RelayStatus.MalformedMessage);
    }

    [Fact]
    public async Task ConnectAsync_RelayAnswersMalformedMessageStatus_KindRefusedWithThatStatus()
    {
        await using var fixture = RelayFixture.Create();
        TestNode fake = FakeRelay(fixture, (_, stream) => AnswerAsync(stream, MessageIO.HopStatus(RelayStatus.MalformedMessage)));

        Func<Task> act = () => fixture.CreateNode().Client.ConnectAsync(fake.Id, fixture.CreateNode().Id, [fake.Host.Addresses[0]]);

        // The relay says *we* sent garbage: that is its answer, a refusal, not a violation on its part.
        AssertKind(await act.Should().ThrowAsync<RelayException>().Within(), RelayErrorKind.Refused, RelayStatus.MalformedMessage);
    }

    private static void AssertKind(FluentAssertions.Specialized.ExceptionAssertions<RelayException> thrown, RelayErrorKind kind, RelayStatus status)
    {
        RelayException error = thrown.Which;
        error.Kind.Should().Be(kind, error.Message);
        error.Status.Should().Be(status, error.Message);
    }

    private static async Task AnswerAsync(ILibp2pStream stream, HopMessage answer)
    {
        await MessageIO.ReadHopAsync(stream.Input, CancellationToken.None);
        byte[] body = answer.ToByteArray();
        await stream.Output.WriteAsync((byte[])[.. Varint.Encode((ulong)body.Length), .. body]);
        await stream.DisposeAsync();
    }

    /// <summary>A node that answers hop streams with <paramref name="serve"/> instead of a relay service.</summary>
    private static TestNode FakeRelay(RelayFixture fixture, Func<global::CircuitRelay.ReferenceHost.Libp2pHost, ILibp2pStream, Task> serve)
    {
        TestNode fake = fixture.CreateNode();
        fake.Host.SetStreamHandler(RelayProtocol.Hop, (stream, _) => serve(fake.Host, stream));
        return fake;
    }
}
