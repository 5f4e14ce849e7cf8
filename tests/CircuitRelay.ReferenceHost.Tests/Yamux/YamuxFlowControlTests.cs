using System.IO.Pipelines;
using System.Security.Cryptography;
using CircuitRelay.ReferenceHost.Tests.TestSupport;
using CircuitRelay.ReferenceHost.Yamux;
using Microsoft.Extensions.Logging;

namespace CircuitRelay.ReferenceHost.Tests.Yamux;

public sealed class YamuxFlowControlTests
{
    private const int Window = 256 * 1024;

    [Fact]
    public async Task Write_ReceiverNotReading_SenderStopsAtTheInitialWindow()
    {
        (YamuxSession client, YamuxSession server) = YamuxPair.Create();
        await using YamuxSession c = client;
        await using YamuxSession s = server;
        YamuxStream outbound = await client.OpenStreamAsync().Within();
        YamuxStream inbound = (await server.AcceptStreamAsync().Within())!;

        ValueTask<FlushResult> write = outbound.Output.WriteAsync(new byte[4 * Window]);
        await outbound.WhenSendBlockedAsync().Within();
        // The ping travels behind every data frame sent so far: once answered, the server has processed them all.
        await client.PingAsync().Within();

        write.IsCompleted.Should().BeFalse();
        outbound.SendWindow.Should().Be(0);
        inbound.BufferedReceiveBytes.Should().Be(Window);
        inbound.ReceiveWindow.Should().Be(0);
    }

    [Fact]
    public async Task Write_ReceiverReadsLater_SenderResumesAndAllBytesArrive()
    {
        (YamuxSession client, YamuxSession server) = YamuxPair.Create();
        await using YamuxSession c = client;
        await using YamuxSession s = server;
        byte[] data = RandomNumberGenerator.GetBytes(4 * Window);
        YamuxStream outbound = await client.OpenStreamAsync().Within();
        YamuxStream inbound = (await server.AcceptStreamAsync().Within())!;
        ValueTask<FlushResult> write = outbound.Output.WriteAsync(data);
        await outbound.WhenSendBlockedAsync().Within();

        byte[] received = await PipeIo.ReadExactlyAsync(inbound.Input, data.Length).Within();
        await write.Within();

        received.Should().Equal(data);
    }

    [Fact]
    public async Task Read_HalfTheWindowConsumed_SendsOneWindowUpdate()
    {
        (YamuxSession client, RawYamuxPeer server) = YamuxPair.CreateWithRawPeer(sessionIsClient: true);
        await using YamuxSession owned = client;
        YamuxStream outbound = await client.OpenStreamAsync().Within();
        await server.ReceiveUntilAsync(h => h.Has(YamuxFlags.Syn)).Within();
        await server.SendAsync(new YamuxHeader(YamuxFrameType.Data, YamuxFlags.Ack, 1, Window / 2), new byte[Window / 2]).Within();

        await PipeIo.ReadExactlyInOneAdvanceAsync(outbound.Input, Window / 2).Within();
        (YamuxHeader update, _) = await server.ReceiveUntilAsync(h => h.Type == YamuxFrameType.WindowUpdate).Within();

        update.Should().Be(new YamuxHeader(YamuxFrameType.WindowUpdate, YamuxFlags.None, 1, Window / 2));
        outbound.ReceiveWindow.Should().Be(Window);
    }

    [Fact]
    public async Task Write_PeerGrantsMoreWindow_SenderUsesIt()
    {
        (YamuxSession client, RawYamuxPeer server) = YamuxPair.CreateWithRawPeer(sessionIsClient: true);
        await using YamuxSession owned = client;
        YamuxStream outbound = await client.OpenStreamAsync().Within();
        await server.ReceiveUntilAsync(h => h.Has(YamuxFlags.Syn)).Within();
        ValueTask<FlushResult> write = outbound.Output.WriteAsync(new byte[Window + 1000]);
        int received = 0;
        while (received < Window)
        {
            received += (await server.ReceiveUntilAsync(h => h.Type == YamuxFrameType.Data).Within()).Payload.Length;
        }

        await outbound.WhenSendBlockedAsync().Within();
        await server.SendAsync(new YamuxHeader(YamuxFrameType.WindowUpdate, YamuxFlags.Ack, 1, 1000)).Within();
        (YamuxHeader last, _) = await server.ReceiveUntilAsync(h => h.Type == YamuxFrameType.Data).Within();
        await write.Within();

        received.Should().Be(Window);
        last.Length.Should().Be(1000u);
    }

    [Fact]
    public async Task Read_ConsumedWithinFourRoundTrips_WindowGrows()
    {
        var time = new ManualTimeProvider();
        (YamuxSession client, RawYamuxPeer server) = YamuxPair.CreateWithRawPeer(sessionIsClient: true, YamuxPair.Options(time));
        await using YamuxSession owned = client;
        Task<TimeSpan> ping = client.PingAsync().AsTask();
        (YamuxHeader request, _) = await server.ReceiveUntilAsync(h => h.Type == YamuxFrameType.Ping).Within();
        time.Advance(TimeSpan.FromMilliseconds(10));
        await server.SendAsync(new YamuxHeader(YamuxFrameType.Ping, YamuxFlags.Ack, 0, request.Length)).Within();
        (await ping.Within()).Should().Be(TimeSpan.FromMilliseconds(10));

        await server.SendAsync(new YamuxHeader(YamuxFrameType.Data, YamuxFlags.Syn, 2, Window), new byte[Window]).Within();
        YamuxStream inbound = (await client.AcceptStreamAsync().Within())!;
        await PipeIo.ReadExactlyInOneAdvanceAsync(inbound.Input, Window).Within();
        (YamuxHeader update, _) = await server.ReceiveUntilAsync(h => h.Type == YamuxFrameType.WindowUpdate && h.Flags == YamuxFlags.None).Within();

        update.Length.Should().Be(2u * Window);
        inbound.ReceiveWindowSize.Should().Be(2 * Window);
        inbound.ReceiveWindow.Should().Be(2 * Window);
    }

    [Fact]
    public async Task Read_NoRoundTripMeasured_WindowStaysAtInitialSize()
    {
        (YamuxSession client, RawYamuxPeer server) = YamuxPair.CreateWithRawPeer(sessionIsClient: true, YamuxPair.Options(new ManualTimeProvider()));
        await using YamuxSession owned = client;

        await server.SendAsync(new YamuxHeader(YamuxFrameType.Data, YamuxFlags.Syn, 2, Window), new byte[Window]).Within();
        YamuxStream inbound = (await client.AcceptStreamAsync().Within())!;
        await PipeIo.ReadExactlyInOneAdvanceAsync(inbound.Input, Window).Within();
        (YamuxHeader update, _) = await server.ReceiveUntilAsync(h => h.Type == YamuxFrameType.WindowUpdate && h.Flags == YamuxFlags.None).Within();

        update.Length.Should().Be((uint)Window);
        inbound.ReceiveWindowSize.Should().Be(Window);
    }

    [Fact]
    public async Task Receive_MoreThanTheWindow_SessionSendsProtocolErrorGoAway()
    {
        using var logging = new TestLogging();
        (YamuxSession server, RawYamuxPeer client) = LoggedYamux.CreateWithRawPeer(logging, sessionIsClient: false);
        await using YamuxSession owned = server;

        await client.SendAsync(new YamuxHeader(YamuxFrameType.Data, YamuxFlags.Syn, 1, Window + 1), new byte[Window + 1]).Within();
        List<YamuxHeader> frames = await client.ReceiveToEndAsync().Within();

        frames.Should().ContainSingle(h => h.Type == YamuxFrameType.GoAway).Which.Length.Should().Be((uint)YamuxGoAwayCode.ProtocolError);
        await FluentActions.Awaiting(() => server.Completion.Within()).Should().ThrowAsync<InvalidDataException>().WithMessage("*window*");
        logging.ShouldHaveLoggedOnce(YamuxEvents.ProtocolViolation, LogLevel.Warning).Message.Should().Contain("window");
    }

    [Fact]
    public async Task Receive_WindowSpreadOverTwoFrames_IsAccepted()
    {
        (YamuxSession server, RawYamuxPeer client) = YamuxPair.CreateWithRawPeer(sessionIsClient: false);
        await using YamuxSession owned = server;

        await client.SendAsync(new YamuxHeader(YamuxFrameType.Data, YamuxFlags.Syn, 1, Window - 10), new byte[Window - 10]).Within();
        await client.SendAsync(new YamuxHeader(YamuxFrameType.Data, YamuxFlags.None, 1, 10), new byte[10]).Within();
        await client.SendAsync(new YamuxHeader(YamuxFrameType.Ping, YamuxFlags.Syn, 0, 5)).Within();
        (YamuxHeader pong, _) = await client.ReceiveUntilAsync(h => h.Type == YamuxFrameType.Ping).Within();
        YamuxStream inbound = (await server.AcceptStreamAsync().Within())!;

        pong.Length.Should().Be(5u);
        inbound.BufferedReceiveBytes.Should().Be(Window);
        server.Completion.IsCompleted.Should().BeFalse();
    }

    [Fact]
    public async Task WindowUpdate_OverflowingTheSendWindow_SessionSendsProtocolErrorGoAway()
    {
        using var logging = new TestLogging();
        (YamuxSession server, RawYamuxPeer client) = LoggedYamux.CreateWithRawPeer(logging, sessionIsClient: false);
        await using YamuxSession owned = server;

        await client.SendAsync(new YamuxHeader(YamuxFrameType.WindowUpdate, YamuxFlags.Syn, 1, uint.MaxValue)).Within();
        List<YamuxHeader> frames = await client.ReceiveToEndAsync().Within();

        frames.Last().Should().Be(new YamuxHeader(YamuxFrameType.GoAway, YamuxFlags.None, 0, (uint)YamuxGoAwayCode.ProtocolError));
        await FluentActions.Awaiting(() => server.Completion.Within()).Should().ThrowAsync<InvalidDataException>();
        logging.ShouldHaveLoggedOnce(YamuxEvents.ProtocolViolation, LogLevel.Warning);
    }
}
