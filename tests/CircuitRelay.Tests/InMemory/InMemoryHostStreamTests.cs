using System.IO.Pipelines;
using System.Text;
using CircuitRelay.Abstractions;
using CircuitRelay.InMemory;
using static CircuitRelay.Tests.InMemory.InMemoryTestKit;

namespace CircuitRelay.Tests.InMemory;

public sealed class InMemoryHostStreamTests : InMemoryHostTestBase
{
    [Fact]
    public async Task OpenStreamAsync_EchoHandler_EchoesBytes()
    {
        InMemoryHost a = Network.CreateHost();
        InMemoryHost b = Network.CreateHost();
        b.SetStreamHandler(EchoProtocol, EchoAsync);

        ILibp2pStream stream = await a.OpenStreamAsync(b.PeerId, EchoProtocol).Within();
        await using (stream)
        {
            byte[] data = RandomBytes(100_000, seed: 1);
            Task<byte[]> echoed = stream.Input.ReadToEndAsync();
            await stream.Output.WriteAllAndCompleteAsync(data).Within();

            (await echoed.Within()).Should().Equal(data);
            stream.Protocol.Should().Be(EchoProtocol);
            stream.Connection.RemotePeer.Should().Be(b.PeerId);
        }
    }

    [Fact]
    public async Task OutputComplete_AfterData_RemoteReadsAllThenEndAndCanStillReply()
    {
        InMemoryHost a = Network.CreateHost();
        InMemoryHost b = Network.CreateHost();
        var received = new TaskCompletionSource<byte[]>(TaskCreationOptions.RunContinuationsAsynchronously);
        b.SetStreamHandler("/test/half-close", async (stream, _) =>
        {
            await using (stream)
            {
                received.TrySetResult(await stream.Input.ReadToEndAsync());
                await stream.Output.WriteAsync(System.Text.Encoding.UTF8.GetBytes("reply"));
                await stream.Output.CompleteAsync();
            }
        });

        await using ILibp2pStream client = await a.OpenStreamAsync(b.PeerId, "/test/half-close").Within();
        await client.Output.WriteAsync(System.Text.Encoding.UTF8.GetBytes("request"));
        await client.Output.CompleteAsync();

        System.Text.Encoding.UTF8.GetString(await received.Task.Within()).Should().Be("request");
        System.Text.Encoding.UTF8.GetString(await client.Input.ReadToEndAsync().Within()).Should().Be("reply");
    }

    [Fact]
    public async Task Abort_RemoteReading_ReadThrowsIOException()
    {
        InMemoryHost a = Network.CreateHost();
        InMemoryHost b = Network.CreateHost();
        var readFailure = new TaskCompletionSource<Exception?>(TaskCreationOptions.RunContinuationsAsynchronously);
        var handlerReading = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        b.SetStreamHandler("/test/abort", async (stream, _) =>
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

        ILibp2pStream client = await a.OpenStreamAsync(b.PeerId, "/test/abort").Within();
        await client.Output.WriteAsync(new byte[] { 1 });
        await handlerReading.Task.Within();
        client.Abort();

        (await readFailure.Task.Within()).Should().BeOfType<IOException>();
        await client.DisposeAsync();
    }

    [Fact]
    public async Task Abort_Locally_LocalReadAndFlushThrowIOException()
    {
        InMemoryHost a = Network.CreateHost();
        InMemoryHost b = Network.CreateHost();
        b.SetStreamHandler(EchoProtocol, EchoAsync);
        ILibp2pStream client = await a.OpenStreamAsync(b.PeerId, EchoProtocol).Within();

        client.Abort();

        await FluentActions.Awaiting(async () => await client.Input.ReadAsync()).Should().ThrowAsync<IOException>();
        await FluentActions.Awaiting(async () => await client.Output.WriteAsync(new byte[] { 1 })).Should().ThrowAsync<IOException>();
        await client.DisposeAsync();
        await client.DisposeAsync();
    }

    [Fact]
    public async Task RemoteAbort_LocalWrite_ThrowsIOException()
    {
        InMemoryHost a = Network.CreateHost();
        InMemoryHost b = Network.CreateHost();
        b.SetStreamHandler("/test/abort", (stream, _) =>
        {
            stream.Abort();
            return Task.CompletedTask;
        });

        await using ILibp2pStream client = await a.OpenStreamAsync(b.PeerId, "/test/abort").Within();

        await FluentActions.Awaiting(async () => await client.Input.ReadAsync()).Should().ThrowAsync<IOException>();
        await FluentActions.Awaiting(async () => await client.Output.WriteAsync(new byte[] { 1 })).Should().ThrowAsync<IOException>();
    }

    [Fact]
    public async Task OpenStreamAsync_UnknownProtocol_ThrowsIOException()
    {
        InMemoryHost a = Network.CreateHost();
        InMemoryHost b = Network.CreateHost();
        b.SetStreamHandler(EchoProtocol, EchoAsync);

        Func<Task> open = async () => await a.OpenStreamAsync(b.PeerId, "/test/unknown").Within();

        (await open.Should().ThrowAsync<IOException>()).Which.Message.Should().Contain("does not support protocol");
    }

    [Fact]
    public async Task RemoveStreamHandler_LaterStreams_AreRefused()
    {
        InMemoryHost a = Network.CreateHost();
        InMemoryHost b = Network.CreateHost();
        b.SetStreamHandler(EchoProtocol, EchoAsync);
        await using (await a.OpenStreamAsync(b.PeerId, EchoProtocol).Within())
        {
        }

        b.RemoveStreamHandler(EchoProtocol);

        Func<Task> open = async () => await a.OpenStreamAsync(b.PeerId, EchoProtocol).Within();
        await open.Should().ThrowAsync<IOException>();
    }

    [Fact]
    public async Task OpenStreamAsync_FiftyConcurrentStreams_EachMovesQuarterMebibyteBothWaysByteExact()
    {
        InMemoryHost a = Network.CreateHost();
        InMemoryHost b = Network.CreateHost();
        b.SetStreamHandler(EchoProtocol, EchoAsync);
        await a.ConnectAsync(b.PeerId).Within();

        async Task RoundTripAsync(int seed)
        {
            byte[] data = RandomBytes(256 * 1024, seed);
            await using ILibp2pStream stream = await a.OpenStreamAsync(b.PeerId, EchoProtocol);
            Task<byte[]> echoed = stream.Input.ReadToEndAsync();
            await stream.Output.WriteAllAndCompleteAsync(data, chunkSize: 10_000 + seed);
            (await echoed).Should().Equal(data);
        }

        await Task.WhenAll(Enumerable.Range(1, 50).Select(RoundTripAsync)).Within();

        a.GetConnections(b.PeerId).Should().ContainSingle("every stream shares the one connection");
    }

    [Fact]
    public async Task UnreadStream_FillsItsWindow_OtherStreamsKeepFlowing()
    {
        InMemoryHost a = Network.CreateHost();
        InMemoryHost b = Network.CreateHost();
        var parked = new TaskCompletionSource<ILibp2pStream>(TaskCreationOptions.RunContinuationsAsynchronously);
        b.SetStreamHandler("/test/park", (stream, _) =>
        {
            parked.TrySetResult(stream); // never read
            return Task.CompletedTask;
        });
        b.SetStreamHandler(EchoProtocol, EchoAsync);

        await using ILibp2pStream stalled = await a.OpenStreamAsync(b.PeerId, "/test/park").Within();
        byte[] big = RandomBytes(4 * 1024 * 1024, seed: 7);
        Task<FlushResult> stuckWrite = stalled.Output.WriteAsync(big).AsTask();

        byte[] data = RandomBytes(300_000, seed: 8);
        await using (ILibp2pStream echo = await a.OpenStreamAsync(b.PeerId, EchoProtocol).Within())
        {
            Task<byte[]> echoed = echo.Input.ReadToEndAsync();
            await echo.Output.WriteAllAndCompleteAsync(data).Within();
            (await echoed.Within()).Should().Equal(data);
        }

        stuckWrite.IsCompleted.Should().BeFalse("the unread stream's sender is held back by its credit");

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
        InMemoryHost a = Network.CreateHost();
        InMemoryHost b = Network.CreateHost();
        b.SetStreamHandler("/test/throw", (_, _) => throw new InvalidOperationException("handler bug"));
        b.SetStreamHandler(EchoProtocol, EchoAsync);

        await using (ILibp2pStream failing = await a.OpenStreamAsync(b.PeerId, "/test/throw").Within())
        {
            await FluentActions.Awaiting(async () => await failing.Input.ReadAsync().Within())
                .Should().ThrowAsync<IOException>();
        }

        await using ILibp2pStream echo = await a.OpenStreamAsync(b.PeerId, EchoProtocol).Within();
        await echo.Output.WriteAllAndCompleteAsync([1, 2, 3]);
        (await echo.Input.ReadToEndAsync().Within()).Should().Equal(1, 2, 3);
    }

    [Fact]
    public async Task Handler_Returns_HostDoesNotDisposeTheStream()
    {
        InMemoryHost a = Network.CreateHost();
        InMemoryHost b = Network.CreateHost();
        var kept = new TaskCompletionSource<ILibp2pStream>(TaskCreationOptions.RunContinuationsAsynchronously);
        b.SetStreamHandler("/test/keep", (stream, _) =>
        {
            kept.TrySetResult(stream);
            return Task.CompletedTask;
        });

        await using ILibp2pStream client = await a.OpenStreamAsync(b.PeerId, "/test/keep").Within();
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
        InMemoryHost a = Network.CreateHost();
        InMemoryHost b = Network.CreateHost();
        using var cancelled = new CancellationTokenSource();
        await cancelled.CancelAsync();

        Func<Task> open = async () => await a.OpenStreamAsync(b.PeerId, EchoProtocol, cancellationToken: cancelled.Token);

        await open.Should().ThrowAsync<OperationCanceledException>();
    }

    [Fact]
    public async Task OpenStreamAsync_UnknownPeer_ThrowsIOException()
    {
        InMemoryHost a = Network.CreateHost();
        PeerId stranger = TestIdentity.Create().PeerId;

        Func<Task> open = async () => await a.OpenStreamAsync(stranger, EchoProtocol);

        await open.Should().ThrowAsync<IOException>();
    }

    [Fact]
    public async Task OpenStreamAsync_ExistingConnectionOnlyWithoutConnection_ThrowsIOException()
    {
        InMemoryHost a = Network.CreateHost();
        InMemoryHost b = Network.CreateHost();
        b.SetStreamHandler(EchoProtocol, EchoAsync);

        Func<Task> open = async () => await a.OpenStreamAsync(b.PeerId, EchoProtocol, new OpenStreamOptions { ExistingConnectionOnly = true });

        await open.Should().ThrowAsync<IOException>();
        a.GetConnections(b.PeerId).Should().BeEmpty();
    }

    [Fact]
    public async Task OpenStreamAsync_NoConnection_DialsThePeer()
    {
        InMemoryHost a = Network.CreateHost();
        InMemoryHost b = Network.CreateHost();
        b.SetStreamHandler(EchoProtocol, EchoAsync);

        await using ILibp2pStream stream = await a.OpenStreamAsync(b.PeerId, EchoProtocol).Within();

        stream.Connection.Direction.Should().Be(ConnectionDirection.Outbound);
        a.GetConnections(b.PeerId).Should().ContainSingle().Which.Should().BeSameAs(stream.Connection);
    }
}
