using System.Security.Cryptography;
using CircuitRelay.Abstractions;
using CircuitRelay.Protocols.Ping;
using CircuitRelay.Protocols.Tests.Identify;
using CircuitRelay.ReferenceHost.Tests.TestSupport;
using Microsoft.Extensions.Logging.Abstractions;

namespace CircuitRelay.Protocols.Tests.Ping;

public sealed class PingServiceTests : IAsyncLifetime
{
    private static readonly OpenStreamOptions AnyConnection = new() { AllowLimitedConnection = true };
    private static readonly StreamHandlerOptions AnyConnectionHandler = new() { AllowLimitedConnection = true };

    private readonly ServiceTestNetwork _net = new();
    private readonly ManualTimeProvider _time = new();
    private Libp2pHost _a = null!;
    private Libp2pHost _b = null!;
    private PingService _pingA = null!;
    private PingService _pingB = null!;

    public Task InitializeAsync()
    {
        _a = _net.CreateHost("10.0.3.1");
        _b = _net.CreateHost("10.0.3.2");
        _pingA = _net.Track(new PingService(_a, NullLogger.Instance, _time));
        _pingB = _net.Track(new PingService(_b, NullLogger.Instance, TimeProvider.System));
        _pingA.Start();
        _pingB.Start();
        return Task.CompletedTask;
    }

    public async Task DisposeAsync() => await _net.DisposeAsync();

    [Fact]
    public async Task PingAsync_ConnectedPeer_ReturnsRoundTripTime()
    {
        await ServiceTestNetwork.ConnectAsync(_a, _b).Within();
        await using var realClock = new PingService(_a, NullLogger.Instance, TimeProvider.System);

        TimeSpan rtt = await realClock.PingAsync(_b.PeerId).Within();

        rtt.Should().BeGreaterThan(TimeSpan.Zero).And.BeLessThan(PingService.Timeout);
    }

    [Fact]
    public async Task PingAsync_NoConnectionButKnownAddresses_DialsThePeerStoreAddresses()
    {
        _a.UpdatePeer(new PeerRecord(_b.PeerId, [], _b.ListenAddresses));

        TimeSpan rtt = await _pingA.PingAsync(_b.PeerId).Within();

        rtt.Should().Be(TimeSpan.Zero, "the manual clock did not move");
        _a.GetConnections(_b.PeerId).Should().ContainSingle();
    }

    [Fact]
    public async Task PingAsync_EchoDelayed_MeasuresRoundTripWithTimeProvider()
    {
        await ServiceTestNetwork.ConnectAsync(_a, _b).Within();
        _b.SetStreamHandler(PingService.ProtocolId, async (stream, _) =>
        {
            byte[] payload = await PipeIo.ReadExactlyAsync(stream.Input, 32);
            _time.Advance(TimeSpan.FromMilliseconds(25));
            await stream.Output.WriteAsync(payload);
            await stream.DisposeAsync();
        }, AnyConnectionHandler);

        TimeSpan rtt = await _pingA.PingAsync(_b.PeerId).Within();

        rtt.Should().Be(TimeSpan.FromMilliseconds(25));
    }

    [Fact]
    public async Task PingAsync_EchoCorrupted_ThrowsInvalidDataException()
    {
        await ServiceTestNetwork.ConnectAsync(_a, _b).Within();
        _b.SetStreamHandler(PingService.ProtocolId, async (stream, _) =>
        {
            byte[] payload = await PipeIo.ReadExactlyAsync(stream.Input, 32);
            payload[17] ^= 0x01;
            await stream.Output.WriteAsync(payload);
            await stream.DisposeAsync();
        }, AnyConnectionHandler);

        Func<Task> ping = () => _pingA.PingAsync(_b.PeerId).Within();

        await ping.Should().ThrowAsync<InvalidDataException>();
    }

    [Fact]
    public async Task PingAsync_PeerClosesInsideEcho_ThrowsEndOfStreamException()
    {
        await ServiceTestNetwork.ConnectAsync(_a, _b).Within();
        _b.SetStreamHandler(PingService.ProtocolId, async (stream, _) =>
        {
            byte[] payload = await PipeIo.ReadExactlyAsync(stream.Input, 32);
            await stream.Output.WriteAsync(payload.AsMemory(0, 31));
            await stream.DisposeAsync();
        }, AnyConnectionHandler);

        Func<Task> ping = () => _pingA.PingAsync(_b.PeerId).Within();

        await ping.Should().ThrowAsync<EndOfStreamException>();
    }

    [Fact]
    public async Task PingAsync_PeerNeverEchoes_ThrowsTimeoutException()
    {
        await ServiceTestNetwork.ConnectAsync(_a, _b).Within();
        var received = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _b.SetStreamHandler(PingService.ProtocolId, async (stream, _) =>
        {
            await using (stream)
            {
                await PipeIo.ReadExactlyAsync(stream.Input, 32);
                received.TrySetResult();
                await PipeTesting.ReadToEndAsync(stream.Input);
            }
        }, AnyConnectionHandler);

        Task<TimeSpan> ping = _pingA.PingAsync(_b.PeerId);
        await received.Task.Within();
        _time.Advance(TimeSpan.FromSeconds(9));
        ping.IsCompleted.Should().BeFalse();
        _time.Advance(TimeSpan.FromSeconds(1));

        await FluentActions.Awaiting(() => ping.Within()).Should().ThrowAsync<TimeoutException>();
    }

    [Fact]
    public async Task PingAsync_PeerResetsAfterEcho_ReturnsRoundTripTime()
    {
        await ServiceTestNetwork.ConnectAsync(_a, _b).Within();
        _b.SetStreamHandler(PingService.ProtocolId, async (stream, _) =>
        {
            byte[] payload = await PipeIo.ReadExactlyAsync(stream.Input, 32);
            await stream.Output.WriteAsync(payload);
            await PipeTesting.ReadToEndAsync(stream.Input);
            stream.Abort();
        }, AnyConnectionHandler);

        TimeSpan rtt = await _pingA.PingAsync(_b.PeerId).Within();

        rtt.Should().Be(TimeSpan.Zero);
    }

    [Fact]
    public async Task PingAsync_PeerKeepsStreamOpenAfterEcho_ReturnsRoundTripTimeAtTimeout()
    {
        await ServiceTestNetwork.ConnectAsync(_a, _b).Within();
        var aClosedWriteSide = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _b.SetStreamHandler(PingService.ProtocolId, async (stream, _) =>
        {
            await using (stream)
            {
                byte[] payload = await PipeIo.ReadExactlyAsync(stream.Input, 32);
                await stream.Output.WriteAsync(payload);
                await PipeTesting.ReadToEndAsync(stream.Input);
                aClosedWriteSide.TrySetResult();
                await release.Task; // keeps its write side open until the test ends
            }
        }, AnyConnectionHandler);

        try
        {
            Task<TimeSpan> ping = _pingA.PingAsync(_b.PeerId);
            await aClosedWriteSide.Task.Within();
            ping.IsCompleted.Should().BeFalse("A waits for B to end the stream");
            _time.Advance(PingService.Timeout);

            (await ping.Within()).Should().Be(TimeSpan.Zero);
        }
        finally
        {
            release.TrySetResult();
        }
    }

    [Fact]
    public async Task PingAsync_PeerWithoutPingHandler_ThrowsIOException()
    {
        await ServiceTestNetwork.ConnectAsync(_a, _b).Within();
        _b.RemoveStreamHandler(PingService.ProtocolId);

        Func<Task> ping = () => _pingA.PingAsync(_b.PeerId).Within();

        await ping.Should().ThrowAsync<IOException>();
    }

    [Fact]
    public async Task PingAsync_LimitedConnection_ReturnsRoundTripTime()
    {
        RelayedConnection relayed = await _net.ConnectRelayedAsync(_a, _b);
        relayed.AtDialer.IsLimited.Should().BeTrue();
        using IDisposable refused = _b.RefuseInboundConnections();

        TimeSpan rtt = await _pingA.PingAsync(_b.PeerId).Within();

        rtt.Should().Be(TimeSpan.Zero);
        _a.GetConnections(_b.PeerId).Should().ContainSingle().Which.IsRelayed.Should().BeTrue();
    }

    [Fact]
    public async Task PingAsync_ConcurrentCallsToOnePeer_AllSucceed()
    {
        await ServiceTestNetwork.ConnectAsync(_a, _b).Within();

        TimeSpan[] rtts = await Task.WhenAll(Enumerable.Range(0, 5).Select(_ => _pingA.PingAsync(_b.PeerId))).Within();

        rtts.Should().HaveCount(5);
    }

    [Fact]
    public async Task Handler_SeveralRounds_EchoesEachPayload()
    {
        await ServiceTestNetwork.ConnectAsync(_a, _b).Within();
        await using ILibp2pStream stream = await _a.OpenStreamAsync(_b.PeerId, PingService.ProtocolId, AnyConnection).Within();

        for (int round = 0; round < 3; round++)
        {
            byte[] payload = RandomNumberGenerator.GetBytes(32);
            await PipeIo.WriteAsync(stream.Output, payload).Within();
            (await PipeIo.ReadExactlyAsync(stream.Input, 32).Within()).Should().Equal(payload);
        }
    }

    [Fact]
    public async Task Handler_RemoteClosesWriteSide_ClosesStream()
    {
        await ServiceTestNetwork.ConnectAsync(_a, _b).Within();
        await using ILibp2pStream stream = await _a.OpenStreamAsync(_b.PeerId, PingService.ProtocolId, AnyConnection).Within();
        byte[] payload = RandomNumberGenerator.GetBytes(32);
        await PipeIo.WriteAsync(stream.Output, payload).Within();

        await stream.Output.CompleteAsync();

        (await PipeTesting.ReadToEndAsync(stream.Input).Within()).Should().Equal(payload);
    }

    [Fact]
    public async Task Handler_RemoteClosesInsidePayload_ResetsStream()
    {
        await ServiceTestNetwork.ConnectAsync(_a, _b).Within();
        await using ILibp2pStream stream = await _a.OpenStreamAsync(_b.PeerId, PingService.ProtocolId, AnyConnection).Within();
        await PipeIo.WriteAsync(stream.Output, new byte[20]).Within();

        await stream.Output.CompleteAsync();

        await FluentActions.Awaiting(() => PipeTesting.ReadToEndAsync(stream.Input).Within()).Should().ThrowAsync<IOException>();
    }

    [Fact]
    public async Task Handler_ThirdConcurrentStreamFromOnePeer_IsReset()
    {
        await ServiceTestNetwork.ConnectAsync(_a, _b).Within();
        await using ILibp2pStream first = await OpenActivePingStreamAsync();
        await using ILibp2pStream second = await OpenActivePingStreamAsync();

        // The host resets the third stream at once, which may land inside its protocol negotiation: either way the
        // stream never completes a round.
        Func<Task> round = async () =>
        {
            await using ILibp2pStream third = await _a.OpenStreamAsync(_b.PeerId, PingService.ProtocolId, AnyConnection).Within();
            await third.Output.WriteAsync(new byte[32]);
            await PipeIo.ReadExactlyAsync(third.Input, 32);
        };

        await round.Should().ThrowAsync<IOException>();
    }

    [Fact]
    public async Task Handler_StreamFromAnotherPeer_IsNotCountedAgainstFirstPeer()
    {
        await ServiceTestNetwork.ConnectAsync(_a, _b).Within();
        await using ILibp2pStream first = await OpenActivePingStreamAsync();
        await using ILibp2pStream second = await OpenActivePingStreamAsync();
        Libp2pHost c = _net.CreateHost("10.0.3.3");
        await ServiceTestNetwork.ConnectAsync(c, _b).Within();
        await using ILibp2pStream fromC = await c.OpenStreamAsync(_b.PeerId, PingService.ProtocolId, AnyConnection).Within();
        byte[] payload = RandomNumberGenerator.GetBytes(32);

        await PipeIo.WriteAsync(fromC.Output, payload).Within();

        (await PipeIo.ReadExactlyAsync(fromC.Input, 32).Within()).Should().Equal(payload);
    }

    [Fact]
    public async Task Handler_AfterAStreamEnds_AcceptsANewOne()
    {
        await ServiceTestNetwork.ConnectAsync(_a, _b).Within();
        ILibp2pStream first = await OpenActivePingStreamAsync();
        await using ILibp2pStream second = await OpenActivePingStreamAsync();
        await first.Output.CompleteAsync();
        await PipeTesting.ReadToEndAsync(first.Input).Within();
        await first.DisposeAsync();

        await using ILibp2pStream third = await OpenActivePingStreamAsync();

        third.Should().NotBeNull();
    }

    [Fact]
    public async Task DisposeAsync_StartedService_RemovesHandler()
    {
        await _pingB.DisposeAsync();

        Func<Task> ping = () => _pingA.PingAsync(_b.PeerId).Within();

        await ping.Should().ThrowAsync<IOException>();
    }

    [Fact]
    public void Start_Twice_ThrowsInvalidOperationException()
    {
        Action start = _pingA.Start;

        start.Should().Throw<InvalidOperationException>();
    }

    /// <summary>Opens a ping stream from A to B and completes one round, so B's handler holds a slot for it.</summary>
    private async Task<ILibp2pStream> OpenActivePingStreamAsync()
    {
        ILibp2pStream stream = await _a.OpenStreamAsync(_b.PeerId, PingService.ProtocolId, AnyConnection).Within();
        byte[] payload = RandomNumberGenerator.GetBytes(32);
        await PipeIo.WriteAsync(stream.Output, payload).Within();
        (await PipeIo.ReadExactlyAsync(stream.Input, 32).Within()).Should().Equal(payload);
        return stream;
    }
}
