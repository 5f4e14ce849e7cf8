using Microsoft.Extensions.Logging;
using CircuitRelay.Multiformats;
using CircuitRelay.Abstractions;
using CircuitRelay.Protocol;
using CircuitRelay.Protocol.Pb;
using CircuitRelay.Server;
using CircuitRelay.Tests.Infrastructure;
using Google.Protobuf;

namespace CircuitRelay.Tests.Relay;

public sealed class MalformedInputTests
{
    /// <summary>Bad hop frames, the status the relay answers, and the event it logs (a bad CONNECT is a refused connect).</summary>
    public static TheoryData<string, byte[], RelayStatus, int> BadHopFrames => new()
    {
        { "garbage protobuf", [0x05, 0xff, 0xff, 0xff, 0xff, 0xff], RelayStatus.MalformedMessage, 107 },
        { "oversized length", [.. Varint.Encode(5000), 0x08, 0x00], RelayStatus.MalformedMessage, 107 },
        { "non-minimal varint", [0x81, 0x00], RelayStatus.MalformedMessage, 107 },
        { "STATUS sent to the relay", Frame(new HopMessage { Type = HopMessage.Types.Type.Status, Status = Status.Ok }), RelayStatus.UnexpectedMessage, 107 },
        { "unknown type", Frame(new HopMessage { Type = (HopMessage.Types.Type)7 }), RelayStatus.MalformedMessage, 107 },
        { "CONNECT without peer", Frame(new HopMessage { Type = HopMessage.Types.Type.Connect }), RelayStatus.MalformedMessage, 104 },
        { "CONNECT with an invalid peer id", Frame(new HopMessage { Type = HopMessage.Types.Type.Connect, Peer = new Peer { Id = ByteString.CopyFrom(1, 2, 3) } }), RelayStatus.MalformedMessage, 104 },
    };

    [Theory]
    [MemberData(nameof(BadHopFrames))]
    public async Task HopStream_BadFrame_AnsweredWithStatusAndNoStateLeft(string name, byte[] frame, RelayStatus expected, int loggedEvent)
    {
        _ = name;
        await using var fixture = RelayFixture.Create();
        TestNode node = fixture.CreateNode();
        ILibp2pStream hop = await OpenHopAsync(fixture, node);

        await hop.Output.WriteAsync(frame).Within();
        HopMessage answer = await MessageIO.ReadHopAsync(hop.Input, CancellationToken.None).Within();

        answer.Type.Should().Be(HopMessage.Types.Type.Status);
        answer.Status.Should().Be((Status)(int)expected);
        (await hop.Input.ReadUntilEndOrResetAsync().Within()).Bytes.Should().BeEmpty("the relay closes the stream after its answer");
        await hop.DisposeAsync();
        await AssertNoStateAsync(fixture);
        fixture.Logs.ShouldHaveLoggedOnce(loggedEvent == RelayEvents.ConnectRefused.Id ? RelayEvents.ConnectRefused : RelayEvents.HopRejected, LogLevel.Debug)
            .GetStructuredStateValue("Status").Should().Be(expected.ToString());
    }

    [Fact]
    public async Task HopStream_TruncatedFrame_StreamResetAndNoStateLeft()
    {
        await using var fixture = RelayFixture.Create();
        ILibp2pStream hop = await OpenHopAsync(fixture, fixture.CreateNode());

        await hop.Output.WriteAsync(new byte[] { 0x0a, 0x08 }).Within();
        await hop.Output.CompleteAsync();

        (await hop.Input.ReadUntilEndOrResetAsync().Within()).Bytes.Should().BeEmpty();
        await hop.DisposeAsync();
        await AssertNoStateAsync(fixture);
        fixture.Server.GetStatistics().RequestsRejected.Should().Be(1);
        fixture.Logs.ShouldHaveLoggedOnce(RelayEvents.HopRejected, LogLevel.Debug);
    }

    [Fact]
    public async Task HopStream_SilentPeer_ResetAfterStreamTimeout()
    {
        await using var fixture = RelayFixture.Create(o => o.StreamTimeout = TimeSpan.FromSeconds(20));
        ILibp2pStream hop = await OpenHopAsync(fixture, fixture.CreateNode());
        await ListenerTests.WaitUntilAsync(() => fixture.Server.GetStatistics().PendingRequests == 1);

        fixture.Time.Advance(TimeSpan.FromSeconds(20));

        (await hop.Input.ReadUntilEndOrResetAsync().Within()).Reset.Should().BeTrue();
        await hop.DisposeAsync();
        await AssertNoStateAsync(fixture);
    }

    [Fact]
    public async Task Relay_AfterBadStreams_StillServes()
    {
        await using var fixture = RelayFixture.Create();
        TestNode node = fixture.CreateNode();
        for (int i = 0; i < 20; i++)
        {
            ILibp2pStream hop = await OpenHopAsync(fixture, node);
            await hop.Output.WriteAsync(PipeTesting.RandomBytes(64, i)).Within();
            hop.Abort();
            await hop.DisposeAsync();
        }

        var reservation = await fixture.CreateNode().Client.ReserveAsync(fixture.RelayId, [fixture.RelayAddress]).Within();

        reservation.IsActive.Should().BeTrue();
    }

    public static TheoryData<string, byte[], RelayStatus> BadStopFrames => new()
    {
        { "garbage protobuf", [0x03, 0xff, 0xff, 0xff], RelayStatus.MalformedMessage },
        { "oversized length", [.. Varint.Encode(4097)], RelayStatus.MalformedMessage },
        { "STATUS sent to the target", Frame(new StopMessage { Type = StopMessage.Types.Type.Status, Status = Status.Ok }), RelayStatus.UnexpectedMessage },
        { "unknown type", Frame(new StopMessage { Type = (StopMessage.Types.Type)9 }), RelayStatus.MalformedMessage },
        { "CONNECT without peer", Frame(new StopMessage { Type = StopMessage.Types.Type.Connect }), RelayStatus.MalformedMessage },
        { "CONNECT with an invalid peer id", Frame(new StopMessage { Type = StopMessage.Types.Type.Connect, Peer = new Peer { Id = ByteString.CopyFrom(0xff) } }), RelayStatus.MalformedMessage },
    };

    [Theory]
    [MemberData(nameof(BadStopFrames))]
    public async Task StopStream_BadFrame_AnsweredWithStatus(string name, byte[] frame, RelayStatus expected)
    {
        _ = name;
        await using var fixture = RelayFixture.Create();
        var (target, _) = await fixture.CreateListenerAsync();
        ILibp2pStream stop = await fixture.RelayHost.OpenStreamAsync(target.Id, RelayProtocol.Stop).Within();

        await stop.Output.WriteAsync(frame).Within();
        StopMessage answer = await MessageIO.ReadStopAsync(stop.Input, CancellationToken.None).Within();

        answer.Type.Should().Be(StopMessage.Types.Type.Status);
        answer.Status.Should().Be((Status)(int)expected);
        await stop.DisposeAsync();
        fixture.Logs.ShouldHaveLoggedOnce(RelayEvents.StopRefused, LogLevel.Debug).GetStructuredStateValue("Status").Should().Be(expected.ToString());
    }

    [Fact]
    public async Task StopStream_FromRelayWithoutReservation_AnsweredNoReservation()
    {
        await using var fixture = RelayFixture.Create();
        var (target, _) = await fixture.CreateListenerAsync();
        TestNode stranger = fixture.CreateNode();
        ILibp2pStream stop = await stranger.Host.OpenStreamAsync(target.Id, RelayProtocol.Stop, target.DialHere).Within();
        var connect = new StopMessage
        {
            Type = StopMessage.Types.Type.Connect,
            Peer = new Peer { Id = ByteString.CopyFrom(stranger.Id.ToByteArray()) },
        };

        await stop.Output.WriteAsync(Frame(connect)).Within();
        StopMessage answer = await MessageIO.ReadStopAsync(stop.Input, CancellationToken.None).Within();

        answer.Status.Should().Be(Status.NoReservation);
        await stop.DisposeAsync();
        fixture.Logs.ShouldHaveLoggedOnce(RelayEvents.StopRefused, LogLevel.Debug).GetStructuredStateValue("Status").Should().Be(nameof(RelayStatus.NoReservation));
    }

    [Fact]
    public async Task Connect_TargetAnswersGarbage_SourceGetsConnectionFailed()
    {
        await using var fixture = RelayFixture.Create();
        TestNode target = await fixture.CreateTargetAnsweringGarbageAsync();

        Func<Task> act = () => fixture.CreateNode().Transport.DialAsync(fixture.CircuitAddressOf(target));

        (await act.Should().ThrowAsync<RelayException>()).Which.Status.Should().Be(RelayStatus.ConnectionFailed);
        await AssertNoStateAsync(fixture, reservations: 1);
        fixture.Logs.ShouldHaveLoggedOnce(RelayEvents.ConnectRefused, LogLevel.Debug).GetStructuredStateValue("Status").Should().Be(nameof(RelayStatus.ConnectionFailed));
    }

    [Fact]
    public async Task Connect_RetriedAtOnceAfterConnectionFailed_IsNotRefusedForTheFailedCircuit()
    {
        await using var fixture = RelayFixture.Create(o => o.MaxCircuitsPerPeer = 1);
        TestNode target = await fixture.CreateTargetAnsweringGarbageAsync();
        TestNode source = fixture.CreateNode();

        // The refusal is announced after the source was answered: by then the failed circuit must be gone.
        var countedWhenRefused = new List<int>();
        fixture.Server.ConnectRefused += (_, _) =>
        {
            lock (countedWhenRefused)
            {
                countedWhenRefused.Add(fixture.Server.GetStatistics().ActiveCircuits);
            }
        };

        for (int attempt = 0; attempt < 3; attempt++)
        {
            Func<Task> act = () => source.Transport.DialAsync(fixture.CircuitAddressOf(target));

            // Each failure gives the circuit slot back before it is answered: never RESOURCE_LIMIT_EXCEEDED.
            (await act.Should().ThrowAsync<RelayException>()).Which.Status.Should().Be(RelayStatus.ConnectionFailed);
        }

        await ListenerTests.WaitUntilAsync(() =>
        {
            lock (countedWhenRefused)
            {
                return countedWhenRefused.Count == 3;
            }
        });
        countedWhenRefused.Should().Equal(0, 0, 0);
    }

    [Fact]
    public async Task Connect_TargetSilent_SourceGetsConnectionFailedAfterTimeout()
    {
        await using var fixture = RelayFixture.Create(o => o.StreamTimeout = TimeSpan.FromSeconds(15));
        TestNode target = fixture.CreateNode();
        await target.Client.ReserveAsync(fixture.RelayId, [fixture.RelayAddress]).Within();
        var stopArrived = new TaskCompletionSource<ILibp2pStream>(TaskCreationOptions.RunContinuationsAsynchronously);
        target.Host.SetStreamHandler(RelayProtocol.Stop, (stream, _) =>
        {
            stopArrived.TrySetResult(stream);
            return Task.CompletedTask;
        });
        Task<Transport.RelayedConnection> dial = fixture.CreateNode().Transport.DialAsync(fixture.CircuitAddressOf(target));
        ILibp2pStream silent = await stopArrived.Task.Within();
        StopMessage connect = await MessageIO.ReadStopAsync(silent.Input, CancellationToken.None).Within();
        connect.Type.Should().Be(StopMessage.Types.Type.Connect);

        fixture.Time.Advance(TimeSpan.FromSeconds(15));

        (await dial.Awaiting(d => d).Should().ThrowAsync<RelayException>()).Which.Status.Should().Be(RelayStatus.ConnectionFailed);
        (await silent.Input.ReadUntilEndOrResetAsync().Within()).Reset.Should().BeTrue("the relay resets a stop stream that timed out");
        await silent.DisposeAsync();
        await AssertNoStateAsync(fixture, reservations: 1);
    }

    private static async Task<ILibp2pStream> OpenHopAsync(RelayFixture fixture, TestNode node)
    {
        await node.Host.DialAsync(fixture.RelayAddress).Within();
        return await node.Host.OpenStreamAsync(fixture.RelayId, RelayProtocol.Hop).Within();
    }

    private static async Task AssertNoStateAsync(RelayFixture fixture, int reservations = 0)
    {
        await ListenerTests.WaitUntilAsync(() => fixture.Server.GetStatistics().PendingRequests == 0);
        RelayServerStatistics stats = fixture.Server.GetStatistics();
        stats.ActiveReservations.Should().Be(reservations);
        stats.ActiveCircuits.Should().Be(0);
        stats.TrackedPeers.Should().Be(0);
    }

    private static byte[] Frame(IMessage message)
    {
        byte[] body = message.ToByteArray();
        return [.. Varint.Encode((ulong)body.Length), .. body];
    }
}
