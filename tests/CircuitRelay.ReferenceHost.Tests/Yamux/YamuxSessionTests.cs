using CircuitRelay.ReferenceHost.Tests.TestSupport;
using System.IO.Pipelines;
using CircuitRelay.ReferenceHost.Yamux;
using Microsoft.Extensions.Logging;

namespace CircuitRelay.ReferenceHost.Tests.Yamux;

public sealed class YamuxSessionTests
{
    [Fact]
    public async Task PingAsync_FromClient_ServerAnswers()
    {
        (YamuxSession client, YamuxSession server) = YamuxPair.Create();
        await using YamuxSession c = client;
        await using YamuxSession s = server;

        TimeSpan rtt = await client.PingAsync().Within();

        rtt.Should().BeGreaterThanOrEqualTo(TimeSpan.Zero);
        client.RoundTripTime.Should().NotBeNull();
        server.RoundTripTime.Should().BeNull();
    }

    [Fact]
    public async Task PingAsync_FromServer_ClientAnswers()
    {
        (YamuxSession client, YamuxSession server) = YamuxPair.Create();
        await using YamuxSession c = client;
        await using YamuxSession s = server;

        await server.PingAsync().Within();

        server.RoundTripTime.Should().NotBeNull();
    }

    [Fact]
    public async Task Ping_RequestFromPeer_AnsweredWithAckAndSameValue()
    {
        (YamuxSession server, RawYamuxPeer client) = YamuxPair.CreateWithRawPeer(sessionIsClient: false);
        await using YamuxSession owned = server;

        await client.SendAsync(new YamuxHeader(YamuxFrameType.Ping, YamuxFlags.Syn, 0, 0xCAFEBABE)).Within();
        (YamuxHeader answer, _) = await client.ReceiveUntilAsync(_ => true).Within();

        answer.Should().Be(new YamuxHeader(YamuxFrameType.Ping, YamuxFlags.Ack, 0, 0xCAFEBABE));
    }

    [Fact]
    public async Task PingAsync_ManualClock_ReturnsElapsedTime()
    {
        var time = new ManualTimeProvider();
        (YamuxSession client, RawYamuxPeer server) = YamuxPair.CreateWithRawPeer(sessionIsClient: true, YamuxPair.Options(time));
        await using YamuxSession owned = client;

        Task<TimeSpan> ping = client.PingAsync().AsTask();
        (YamuxHeader request, _) = await server.ReceiveUntilAsync(_ => true).Within();
        time.Advance(TimeSpan.FromMilliseconds(42));
        await server.SendAsync(request with { Flags = YamuxFlags.Ack }).Within();

        (await ping.Within()).Should().Be(TimeSpan.FromMilliseconds(42));
        client.RoundTripTime.Should().Be(TimeSpan.FromMilliseconds(42));
    }

    [Fact]
    public async Task KeepAlive_Interval_SendsPing()
    {
        var time = new ManualTimeProvider();
        var options = new YamuxOptions { KeepAliveInterval = TimeSpan.FromSeconds(30), TimeProvider = time };
        (YamuxSession client, RawYamuxPeer server) = YamuxPair.CreateWithRawPeer(sessionIsClient: true, options);
        await using YamuxSession owned = client;

        time.Advance(TimeSpan.FromSeconds(30));
        (YamuxHeader ping, _) = await server.ReceiveUntilAsync(_ => true).Within();

        ping.Type.Should().Be(YamuxFrameType.Ping);
        ping.Flags.Should().Be(YamuxFlags.Syn);
    }

    [Fact]
    public async Task KeepAlive_PingUnansweredByNextTick_ClosesTheSession()
    {
        using var logging = new TestLogging();
        var time = new ManualTimeProvider();
        var options = new YamuxOptions { KeepAliveInterval = TimeSpan.FromSeconds(30), TimeProvider = time };
        (YamuxSession client, RawYamuxPeer server) = LoggedYamux.CreateWithRawPeer(logging, sessionIsClient: true, options);
        await using YamuxSession owned = client;

        time.Advance(TimeSpan.FromSeconds(30));
        await server.ReceiveUntilAsync(h => h.Type == YamuxFrameType.Ping).Within();
        time.Advance(TimeSpan.FromSeconds(30));

        await FluentActions.Awaiting(() => client.Completion.Within()).Should().ThrowAsync<TimeoutException>();
        client.Closed.IsCancellationRequested.Should().BeTrue();
        logging.ShouldHaveLoggedOnce(YamuxEvents.KeepAliveTimeout, LogLevel.Debug);
        logging.ShouldNotHaveLogged(YamuxEvents.ProtocolViolation);
    }

    [Fact]
    public async Task KeepAlive_PingAnswered_SessionStaysOpenAndPingsAgain()
    {
        var time = new ManualTimeProvider();
        var options = new YamuxOptions { KeepAliveInterval = TimeSpan.FromSeconds(30), TimeProvider = time };
        (YamuxSession client, RawYamuxPeer server) = YamuxPair.CreateWithRawPeer(sessionIsClient: true, options);
        await using YamuxSession owned = client;

        time.Advance(TimeSpan.FromSeconds(30));
        (YamuxHeader first, _) = await server.ReceiveUntilAsync(h => h.Type == YamuxFrameType.Ping).Within();
        await server.SendAsync(first with { Flags = YamuxFlags.Ack }).Within();
        // Our own ping's answer proves the session has read the keep-alive answer sent before it.
        await server.SendAsync(new YamuxHeader(YamuxFrameType.Ping, YamuxFlags.Syn, 0, 777)).Within();
        await server.ReceiveUntilAsync(h => h.Type == YamuxFrameType.Ping && h.Length == 777).Within();
        time.Advance(TimeSpan.FromSeconds(30));
        (YamuxHeader second, _) = await server.ReceiveUntilAsync(h => h.Type == YamuxFrameType.Ping).Within();

        second.Flags.Should().Be(YamuxFlags.Syn);
        second.Length.Should().NotBe(first.Length);
        client.Completion.IsCompleted.Should().BeFalse();
    }

    [Fact]
    public async Task GoAwayAsync_ByServer_ClientCannotOpenNewStreams()
    {
        (YamuxSession client, YamuxSession server) = YamuxPair.Create();
        await using YamuxSession c = client;
        await using YamuxSession s = server;

        await server.GoAwayAsync().Within();
        YamuxGoAwayCode code = await client.RemoteGoAway.Within();

        code.Should().Be(YamuxGoAwayCode.Normal);
        await FluentActions.Awaiting(() => client.OpenStreamAsync().Within()).Should().ThrowAsync<IOException>().WithMessage("*Go Away*");
        (await server.AcceptStreamAsync().Within()).Should().BeNull();
    }

    [Fact]
    public async Task GoAwayAsync_ExistingStreams_KeepWorking()
    {
        (YamuxSession client, YamuxSession server) = YamuxPair.Create();
        await using YamuxSession c = client;
        await using YamuxSession s = server;
        YamuxStream outbound = await client.OpenStreamAsync().Within();
        YamuxStream inbound = (await server.AcceptStreamAsync().Within())!;

        await server.GoAwayAsync().Within();
        await client.RemoteGoAway.Within();
        await PipeIo.WriteAsync(outbound.Output, [1, 2, 3]).Within();
        await outbound.Output.CompleteAsync();

        (await PipeTesting.ReadToEndAsync(inbound.Input).Within()).Should().Equal(1, 2, 3);
    }

    [Fact]
    public async Task GoAwayAsync_ThenInboundSyn_AnsweredWithRst()
    {
        using var logging = new TestLogging();
        (YamuxSession server, RawYamuxPeer client) = LoggedYamux.CreateWithRawPeer(logging, sessionIsClient: false);
        await using YamuxSession owned = server;

        await server.GoAwayAsync().Within();
        (YamuxHeader goAway, _) = await client.ReceiveUntilAsync(_ => true).Within();
        await client.SendAsync(new YamuxHeader(YamuxFrameType.WindowUpdate, YamuxFlags.Syn, 1, 0)).Within();
        (YamuxHeader refusal, _) = await client.ReceiveUntilAsync(_ => true).Within();

        goAway.Should().Be(new YamuxHeader(YamuxFrameType.GoAway, YamuxFlags.None, 0, 0));
        refusal.Should().Be(new YamuxHeader(YamuxFrameType.WindowUpdate, YamuxFlags.Rst, 1, 0));
        FakeLogRecordAssert(logging.ShouldHaveLoggedOnce(YamuxEvents.InboundStreamRefused, LogLevel.Debug), streamId: "1", reason: "going away");
    }

    [Fact]
    public async Task DisposeAsync_SendsNormalGoAwayAndClosesTheTransport()
    {
        (YamuxSession client, RawYamuxPeer server) = YamuxPair.CreateWithRawPeer(sessionIsClient: true);

        await client.DisposeAsync().Within();
        List<YamuxHeader> frames = await server.ReceiveToEndAsync().Within();

        frames.Should().Equal(new YamuxHeader(YamuxFrameType.GoAway, YamuxFlags.None, 0, (uint)YamuxGoAwayCode.Normal));
        client.Completion.IsCompletedSuccessfully.Should().BeTrue();
    }

    [Fact]
    public async Task DisposeAsync_PeerSession_EndsWithoutErrorAndStopsAccepting()
    {
        (YamuxSession client, YamuxSession server) = YamuxPair.Create();
        await using YamuxSession c = client;
        YamuxStream outbound = await client.OpenStreamAsync().Within();

        await server.DisposeAsync();
        await client.Completion.Within();

        (await client.AcceptStreamAsync().Within()).Should().BeNull();
        await FluentActions.Awaiting(() => client.OpenStreamAsync().Within()).Should().ThrowAsync<IOException>();
        await FluentActions.Awaiting(() => PipeTesting.ReadToEndAsync(outbound.Input).Within()).Should().ThrowAsync<IOException>();
    }

    [Fact]
    public async Task Abort_WithReason_FaultsCompletionAndFailsStreamsOnBothSides()
    {
        (YamuxSession client, YamuxSession server) = YamuxPair.Create();
        await using YamuxSession c = client;
        await using YamuxSession s = server;
        YamuxStream outbound = await client.OpenStreamAsync().Within();
        YamuxStream inbound = (await server.AcceptStreamAsync().Within())!;
        var reason = new IOException("boom");

        client.Abort(reason);

        (await FluentActions.Awaiting(() => client.Completion.Within()).Should().ThrowAsync<IOException>()).Which.Should().BeSameAs(reason);
        await FluentActions.Awaiting(() => PipeTesting.ReadToEndAsync(outbound.Input).Within()).Should().ThrowAsync<IOException>();
        await FluentActions.Awaiting(() => server.Completion.Within()).Should().ThrowAsync<IOException>();
        await FluentActions.Awaiting(() => PipeTesting.ReadToEndAsync(inbound.Input).Within()).Should().ThrowAsync<IOException>();
    }

    [Fact]
    public async Task AcceptStreamAsync_BacklogFull_ExtraStreamIsReset()
    {
        using var logging = new TestLogging();
        YamuxOptions options = new() { KeepAliveInterval = null, AcceptBacklog = 2 };
        (YamuxSession server, RawYamuxPeer client) = LoggedYamux.CreateWithRawPeer(logging, sessionIsClient: false, options);
        await using YamuxSession owned = server;

        foreach (uint id in new uint[] { 1, 3, 5 })
        {
            await client.SendAsync(new YamuxHeader(YamuxFrameType.WindowUpdate, YamuxFlags.Syn, id, 0)).Within();
        }

        (YamuxHeader refusal, _) = await client.ReceiveUntilAsync(_ => true).Within();
        YamuxStream first = (await server.AcceptStreamAsync().Within())!;
        YamuxStream second = (await server.AcceptStreamAsync().Within())!;

        refusal.Should().Be(new YamuxHeader(YamuxFrameType.WindowUpdate, YamuxFlags.Rst, 5, 0));
        new[] { first.Id, second.Id }.Should().Equal(1u, 3u);
        FakeLogRecordAssert(logging.ShouldHaveLoggedOnce(YamuxEvents.InboundStreamRefused, LogLevel.Debug), streamId: "5", reason: "accept backlog full");
    }

    [Fact]
    public async Task AcceptStreamAsync_Accepted_SendsAck()
    {
        (YamuxSession server, RawYamuxPeer client) = YamuxPair.CreateWithRawPeer(sessionIsClient: false);
        await using YamuxSession owned = server;

        await client.SendAsync(new YamuxHeader(YamuxFrameType.WindowUpdate, YamuxFlags.Syn, 1, 0)).Within();
        await server.AcceptStreamAsync().Within();
        (YamuxHeader ack, _) = await client.ReceiveUntilAsync(_ => true).Within();

        ack.Should().Be(new YamuxHeader(YamuxFrameType.WindowUpdate, YamuxFlags.Ack, 1, 0));
    }

    [Fact]
    public async Task AcceptStreamAsync_StreamResetBeforeAccept_ReturnsStreamThatFailsWithoutAck()
    {
        (YamuxSession server, RawYamuxPeer client) = YamuxPair.CreateWithRawPeer(sessionIsClient: false);
        await using YamuxSession owned = server;
        await client.SendAsync(new YamuxHeader(YamuxFrameType.WindowUpdate, YamuxFlags.Syn, 1, 0)).Within();
        await client.SendAsync(new YamuxHeader(YamuxFrameType.WindowUpdate, YamuxFlags.Rst, 1, 0)).Within();
        await client.SendAsync(new YamuxHeader(YamuxFrameType.Ping, YamuxFlags.Syn, 0, 9)).Within();
        (YamuxHeader pong, _) = await client.ReceiveUntilAsync(_ => true).Within();

        YamuxStream inbound = (await server.AcceptStreamAsync().Within())!;
        Task<TimeSpan> probe = server.PingAsync().AsTask();
        (YamuxHeader next, _) = await client.ReceiveUntilAsync(_ => true).Within();
        await client.SendAsync(next with { Flags = YamuxFlags.Ack }).Within();
        await probe.Within();

        pong.Type.Should().Be(YamuxFrameType.Ping);
        next.Type.Should().Be(YamuxFrameType.Ping, "no ACK is sent for a stream that was already reset");
        await FluentActions.Awaiting(() => inbound.Output.WriteAsync(new byte[] { 1 }).Within()).Should().ThrowAsync<YamuxStreamResetException>();
        await FluentActions.Awaiting(() => PipeTesting.ReadToEndAsync(inbound.Input).Within()).Should().ThrowAsync<YamuxStreamResetException>();
        await inbound.Completion.Within();
    }

    [Fact]
    public async Task OpenStreamAsync_BacklogOfUnacknowledgedStreams_WaitsForAnAck()
    {
        YamuxOptions options = new() { KeepAliveInterval = null, AcceptBacklog = 2 };
        (YamuxSession client, RawYamuxPeer server) = YamuxPair.CreateWithRawPeer(sessionIsClient: true, options);
        await using YamuxSession owned = client;
        await client.OpenStreamAsync().Within();
        await client.OpenStreamAsync().Within();

        Task<YamuxStream> third = client.OpenStreamAsync().AsTask();
        bool waitedForAck = !third.IsCompleted;
        await server.SendAsync(new YamuxHeader(YamuxFrameType.WindowUpdate, YamuxFlags.Ack, 1, 0)).Within();
        YamuxStream stream = await third.Within();

        waitedForAck.Should().BeTrue();
        stream.Id.Should().Be(5u);
    }

    [Fact]
    public async Task Frames_ForUnknownStream_AreDiscarded()
    {
        (YamuxSession server, RawYamuxPeer client) = YamuxPair.CreateWithRawPeer(sessionIsClient: false);
        await using YamuxSession owned = server;

        await client.SendAsync(new YamuxHeader(YamuxFrameType.Data, YamuxFlags.None, 99, 10), new byte[10]).Within();
        await client.SendAsync(new YamuxHeader(YamuxFrameType.WindowUpdate, YamuxFlags.Fin, 97, 100)).Within();
        await client.SendAsync(new YamuxHeader(YamuxFrameType.Ping, YamuxFlags.Syn, 0, 1)).Within();
        (YamuxHeader answer, _) = await client.ReceiveUntilAsync(_ => true).Within();

        answer.Should().Be(new YamuxHeader(YamuxFrameType.Ping, YamuxFlags.Ack, 0, 1));
        server.Completion.IsCompleted.Should().BeFalse();
        server.StreamCount.Should().Be(0);
    }

    [Fact]
    public async Task Frames_ArrivingOneByteAtATime_AreReassembled()
    {
        (YamuxSession server, RawYamuxPeer client) = YamuxPair.CreateWithRawPeer(sessionIsClient: false);
        await using YamuxSession owned = server;
        byte[] header = new byte[YamuxHeader.Size];
        new YamuxHeader(YamuxFrameType.Data, YamuxFlags.Syn | YamuxFlags.Fin, 1, 5).Write(header);

        foreach (byte b in header.Concat("hello"u8.ToArray()))
        {
            await client.SendRawAsync([b]).Within();
        }

        YamuxStream inbound = (await server.AcceptStreamAsync().Within())!;
        (await PipeTesting.ReadToEndAsync(inbound.Input).Within()).Should().Equal("hello"u8.ToArray());
    }

    [Fact]
    public async Task RemoteGoAway_WithErrorCode_EndsTheSession()
    {
        (YamuxSession server, RawYamuxPeer client) = YamuxPair.CreateWithRawPeer(sessionIsClient: false);
        await using YamuxSession owned = server;

        await client.SendAsync(new YamuxHeader(YamuxFrameType.GoAway, YamuxFlags.None, 0, (uint)YamuxGoAwayCode.InternalError)).Within();

        (await server.RemoteGoAway.Within()).Should().Be(YamuxGoAwayCode.InternalError);
        await FluentActions.Awaiting(() => server.Completion.Within()).Should().ThrowAsync<IOException>();
    }

    [Fact]
    public async Task Transport_EndsMidFrame_FaultsCompletionWithEndOfStream()
    {
        using var logging = new TestLogging();
        (YamuxSession server, RawYamuxPeer client) = LoggedYamux.CreateWithRawPeer(logging, sessionIsClient: false);
        await using YamuxSession owned = server;

        await client.SendRawAsync([0, 0, 0]).Within();
        await client.Pipe.Output.CompleteAsync();

        EndOfStreamException error = (await FluentActions.Awaiting(() => server.Completion.Within()).Should().ThrowAsync<EndOfStreamException>()).Which;
        logging.ShouldHaveLoggedOnce(YamuxEvents.SessionClosing, LogLevel.Debug).GetStructuredStateValue("Reason").Should().Be(error.Message);
        logging.ShouldNotHaveLogged(YamuxEvents.ProtocolViolation);
    }

    [Fact]
    public async Task ControlFrames_PeerStopsReading_SessionClosesOnceTheQueueOverflows()
    {
        using var logging = new TestLogging();
        YamuxOptions options = new() { KeepAliveInterval = null, MaxPendingControlFrames = 16 };

        // The session's side of the transport holds at most a few frames, so its answers back up in the control queue.
        var sessionToPeer = new PipeOptions(pauseWriterThreshold: 64, resumeWriterThreshold: 32);
        (YamuxSession server, RawYamuxPeer client) = LoggedYamux.CreateWithRawPeer(logging, sessionIsClient: false, options, sessionToPeer);
        await using YamuxSession owned = server;
        byte[] pings = new byte[100 * YamuxHeader.Size];
        for (int i = 0; i < 100; i++)
        {
            new YamuxHeader(YamuxFrameType.Ping, YamuxFlags.Syn, 0, (uint)i).Write(pings.AsSpan(i * YamuxHeader.Size));
        }

        await client.SendRawAsync(pings).Within();

        await FluentActions.Awaiting(() => server.Completion.Within()).Should().ThrowAsync<IOException>().WithMessage("*does not read*");

        // Once per frame refused until the close (queued to the thread pool) runs: at least one, each naming the limit.
        logging.ShouldHaveLogged(YamuxEvents.ControlQueueOverflow, LogLevel.Warning).Should().OnlyContain(r => r.GetStructuredStateValue("Limit") == "16");
    }

    [Fact]
    public void Constructor_InitialWindowBelow256KiB_Throws()
    {
        (DuplexPipe transport, _) = DuplexPipe.CreatePair();
        var options = new YamuxOptions { InitialStreamWindowSize = 1024 };

        Action create = () => _ = new YamuxSession(transport, isClient: true, Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance, options);

        create.Should().Throw<ArgumentOutOfRangeException>();
    }

    private static void FakeLogRecordAssert(Microsoft.Extensions.Logging.Testing.FakeLogRecord record, string streamId, string reason)
    {
        record.GetStructuredStateValue("StreamId").Should().Be(streamId);
        record.GetStructuredStateValue("Reason").Should().Be(reason);
    }
}
