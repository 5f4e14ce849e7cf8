using System.IO.Pipelines;
using System.Text;
using CircuitRelay.Abstractions;
using CircuitRelay.Tests.Infrastructure;
using static CircuitRelay.Tests.Host.HostTestKit;

namespace CircuitRelay.Tests.Host;

/// <summary>The stream half of the plug-in surface (<see cref="ILibp2pStream"/> ownership, half-close, reset), on the reference host over the memory transport.</summary>
public sealed class HostStreamTests : IAsyncLifetime
{
    private readonly RelayFixture _fixture = RelayFixture.Create();
    private TestNode _a = null!;
    private TestNode _b = null!;

    public Task InitializeAsync()
    {
        _a = _fixture.CreateNode();
        _b = _fixture.CreateNode();
        return Task.CompletedTask;
    }

    public async Task DisposeAsync() => await _fixture.DisposeAsync();

    [Fact]
    public async Task OpenStreamAsync_EchoHandler_EchoesBytes()
    {
        _b.Host.SetStreamHandler(EchoProtocol, EchoAsync);

        ILibp2pStream stream = await _a.Host.OpenStreamAsync(_b.Id, EchoProtocol, _b.DialHere).Within();
        await using (stream)
        {
            byte[] data = RandomBytes(100_000, seed: 1);
            Task<byte[]> echoed = stream.Input.ReadToEndAsync();
            await stream.Output.WriteAllAndCompleteAsync(data).Within();

            (await echoed.Within()).Should().Equal(data);
            stream.Protocol.Should().Be(EchoProtocol);
            stream.Connection.RemotePeer.Should().Be(_b.Id);
        }
    }

    [Fact]
    public async Task OutputComplete_AfterData_RemoteReadsAllThenEndAndCanStillReply()
    {
        var received = new TaskCompletionSource<byte[]>(TaskCreationOptions.RunContinuationsAsynchronously);
        _b.Host.SetStreamHandler("/test/half-close", async (stream, _) =>
        {
            await using (stream)
            {
                received.TrySetResult(await stream.Input.ReadToEndAsync());
                await stream.Output.WriteAsync(Encoding.UTF8.GetBytes("reply"));
                await stream.Output.CompleteAsync();
            }
        });

        await using ILibp2pStream client = await _a.Host.OpenStreamAsync(_b.Id, "/test/half-close", _b.DialHere).Within();
        await client.Output.WriteAsync(Encoding.UTF8.GetBytes("request"));
        await client.Output.CompleteAsync();

        Encoding.UTF8.GetString(await received.Task.Within()).Should().Be("request");
        Encoding.UTF8.GetString(await client.Input.ReadToEndAsync().Within()).Should().Be("reply");
    }

    [Fact]
    public async Task Abort_RemoteReading_ReadThrowsIOException()
    {
        var readFailure = new TaskCompletionSource<Exception?>(TaskCreationOptions.RunContinuationsAsynchronously);
        var handlerReading = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _b.Host.SetStreamHandler("/test/abort", async (stream, _) =>
        {
            await using (stream)
            {
                try
                {
                    ReadResult first = await stream.Input.ReadAsync();
                    stream.Input.AdvanceTo(first.Buffer.End);
                    handlerReading.TrySetResult();
                    await stream.Input.ReadToEndAsync();
                    readFailure.TrySetResult(null);
                }
                catch (Exception exception)
                {
                    readFailure.TrySetResult(exception);
                }
            }
        });

        ILibp2pStream client = await _a.Host.OpenStreamAsync(_b.Id, "/test/abort", _b.DialHere).Within();
        await client.Output.WriteAsync(new byte[] { 1 });
        await handlerReading.Task.Within();
        client.Abort();

        (await readFailure.Task.Within()).Should().BeAssignableTo<IOException>();
        await client.DisposeAsync();
    }

    [Fact]
    public async Task Abort_Locally_LocalReadAndFlushThrowIOException()
    {
        _b.Host.SetStreamHandler(EchoProtocol, EchoAsync);
        ILibp2pStream client = await _a.Host.OpenStreamAsync(_b.Id, EchoProtocol, _b.DialHere).Within();

        client.Abort();

        await FluentActions.Awaiting(async () => await client.Input.ReadAsync()).Should().ThrowAsync<IOException>();
        await FluentActions.Awaiting(async () => await client.Output.WriteAsync(new byte[] { 1 })).Should().ThrowAsync<IOException>();
        await client.DisposeAsync();
        await client.DisposeAsync();
    }

    [Fact]
    public async Task RemoteAbort_LocalReadAndWrite_ThrowIOException()
    {
        // The handler resets once the opener has written, so the reset cannot race the protocol negotiation
        // (a reset drops what the opener has not read yet, the negotiation's answer included).
        _b.Host.SetStreamHandler("/test/abort", async (stream, _) =>
        {
            await stream.Input.ReadAtLeastAsync(1);
            stream.Abort();
        });
        await using ILibp2pStream client = await _a.Host.OpenStreamAsync(_b.Id, "/test/abort", _b.DialHere).Within();

        await client.Output.WriteAsync(new byte[] { 1 }).Within();

        await FluentActions.Awaiting(async () => await client.Input.ReadAsync().Within()).Should().ThrowAsync<IOException>();
        await FluentActions.Awaiting(async () => await client.Output.WriteAsync(new byte[] { 1 }).Within()).Should().ThrowAsync<IOException>();
    }

    [Fact]
    public async Task OpenStreamAsync_UnknownProtocol_ThrowsIOException()
    {
        _b.Host.SetStreamHandler(EchoProtocol, EchoAsync);

        Func<Task> open = async () => await _a.Host.OpenStreamAsync(_b.Id, "/test/unknown", _b.DialHere).Within();

        await open.Should().ThrowAsync<IOException>();
    }

    [Fact]
    public async Task RemoveStreamHandler_LaterStreams_AreRefused()
    {
        _b.Host.SetStreamHandler(EchoProtocol, EchoAsync);
        await using (await _a.Host.OpenStreamAsync(_b.Id, EchoProtocol, _b.DialHere).Within())
        {
        }

        _b.Host.RemoveStreamHandler(EchoProtocol);

        Func<Task> open = async () => await _a.Host.OpenStreamAsync(_b.Id, EchoProtocol).Within();
        await open.Should().ThrowAsync<IOException>();
    }

    [Fact]
    public async Task OpenStreamAsync_FiftyConcurrentStreams_EachMovesQuarterMebibyteBothWaysByteExact()
    {
        _b.Host.SetStreamHandler(EchoProtocol, EchoAsync);
        await _a.Host.DialAsync(_b.Address).Within();

        async Task RoundTripAsync(int seed)
        {
            byte[] data = RandomBytes(256 * 1024, seed);
            await using ILibp2pStream stream = await _a.Host.OpenStreamAsync(_b.Id, EchoProtocol);
            Task<byte[]> echoed = stream.Input.ReadToEndAsync();
            await stream.Output.WriteAllAndCompleteAsync(data, chunkSize: 10_000 + seed);
            (await echoed).Should().Equal(data);
        }

        await Task.WhenAll(Enumerable.Range(1, 50).Select(RoundTripAsync)).Within();

        _a.Host.GetConnections(_b.Id).Should().ContainSingle("every stream shares the one connection");
    }

    [Fact]
    public async Task UnreadStream_FillsItsWindow_OtherStreamsKeepFlowing()
    {
        var parked = new TaskCompletionSource<ILibp2pStream>(TaskCreationOptions.RunContinuationsAsynchronously);
        _b.Host.SetStreamHandler("/test/park", (stream, _) =>
        {
            parked.TrySetResult(stream); // never read
            return Task.CompletedTask;
        });
        _b.Host.SetStreamHandler(EchoProtocol, EchoAsync);

        await using ILibp2pStream stalled = await _a.Host.OpenStreamAsync(_b.Id, "/test/park", _b.DialHere).Within();
        byte[] big = RandomBytes(12 * 1024 * 1024, seed: 7); // three times the 4 MiB receive window Yamux grants
        Task<FlushResult> stuckWrite = stalled.Output.WriteAsync(big).AsTask();

        byte[] data = RandomBytes(300_000, seed: 8);
        await using (ILibp2pStream echo = await _a.Host.OpenStreamAsync(_b.Id, EchoProtocol).Within())
        {
            Task<byte[]> echoed = echo.Input.ReadToEndAsync();
            await echo.Output.WriteAllAndCompleteAsync(data).Within();
            (await echoed.Within()).Should().Equal(data);
        }

        stuckWrite.IsCompleted.Should().BeFalse("the unread stream's sender is held back by its window");

        // Once the parked side reads, the stalled write completes and every byte arrives in order.
        ILibp2pStream remote = await parked.Task.Within();
        Task<byte[]> drained = remote.Input.ReadToEndAsync();
        await stuckWrite.Within();
        await stalled.Output.CompleteAsync();
        (await drained.Within()).Should().Equal(big);
        await remote.DisposeAsync();
    }

    [Fact]
    public async Task Handler_Throws_StreamIsResetAndHostKeepsServing()
    {
        // The handler fails once the opener has written (see RemoteAbort_LocalReadAndWrite_ThrowIOException).
        _b.Host.SetStreamHandler("/test/throw", async (stream, _) =>
        {
            await stream.Input.ReadAtLeastAsync(1);
            throw new InvalidOperationException("handler bug");
        });
        _b.Host.SetStreamHandler(EchoProtocol, EchoAsync);

        await using (ILibp2pStream failing = await _a.Host.OpenStreamAsync(_b.Id, "/test/throw", _b.DialHere).Within())
        {
            await failing.Output.WriteAsync(new byte[] { 1 }).Within();
            await FluentActions.Awaiting(async () => await failing.Input.ReadAsync().Within())
                .Should().ThrowAsync<IOException>();
        }

        await using ILibp2pStream echo = await _a.Host.OpenStreamAsync(_b.Id, EchoProtocol).Within();
        await echo.Output.WriteAllAndCompleteAsync([1, 2, 3]);
        (await echo.Input.ReadToEndAsync().Within()).Should().Equal(1, 2, 3);
    }

    [Fact]
    public async Task Handler_Returns_HostDoesNotDisposeTheStream()
    {
        var kept = new TaskCompletionSource<ILibp2pStream>(TaskCreationOptions.RunContinuationsAsynchronously);
        _b.Host.SetStreamHandler("/test/keep", (stream, _) =>
        {
            kept.TrySetResult(stream);
            return Task.CompletedTask;
        });

        await using ILibp2pStream client = await _a.Host.OpenStreamAsync(_b.Id, "/test/keep", _b.DialHere).Within();
        ILibp2pStream server = await kept.Task.Within();
        await client.Output.WriteAllAndCompleteAsync([9, 8, 7]);

        (await server.Input.ReadToEndAsync().Within()).Should().Equal(9, 8, 7);
        await server.Output.WriteAllAndCompleteAsync([6]);
        (await client.Input.ReadToEndAsync().Within()).Should().Equal(6);
        await server.DisposeAsync();
    }

    [Fact]
    public async Task OpenStreamAsync_Cancelled_ThrowsOperationCanceled()
    {
        using var cancelled = new CancellationTokenSource();
        await cancelled.CancelAsync();

        Func<Task> open = async () => await _a.Host.OpenStreamAsync(_b.Id, EchoProtocol, _b.DialHere, cancelled.Token);

        await open.Should().ThrowAsync<OperationCanceledException>();
    }

    [Fact]
    public async Task OpenStreamAsync_UnreachablePeer_ThrowsIOException()
    {
        using var stranger = global::CircuitRelay.Crypto.KeyIdentity.Generate();
        var nowhere = new OpenStreamOptions { DialAddresses = [Multiaddr.Parse("/ip4/192.0.2.99/tcp/4001")] };

        Func<Task> open = async () => await _a.Host.OpenStreamAsync(stranger.PeerId, EchoProtocol, nowhere);

        await open.Should().ThrowAsync<IOException>();
    }

    [Fact]
    public async Task OpenStreamAsync_ExistingConnectionOnlyWithoutConnection_ThrowsIOException()
    {
        _b.Host.SetStreamHandler(EchoProtocol, EchoAsync);

        Func<Task> open = async () => await _a.Host.OpenStreamAsync(_b.Id, EchoProtocol, new OpenStreamOptions { ExistingConnectionOnly = true, DialAddresses = [_b.Address] });

        await open.Should().ThrowAsync<IOException>();
        _a.Host.GetConnections(_b.Id).Should().BeEmpty();
    }

    [Fact]
    public async Task OpenStreamAsync_NoConnection_DialsThePeer()
    {
        _b.Host.SetStreamHandler(EchoProtocol, EchoAsync);

        await using ILibp2pStream stream = await _a.Host.OpenStreamAsync(_b.Id, EchoProtocol, _b.DialHere).Within();

        stream.Connection.Direction.Should().Be(ConnectionDirection.Outbound);
        _a.Host.GetConnections(_b.Id).Should().ContainSingle().Which.Should().BeSameAs(stream.Connection);
    }
}
