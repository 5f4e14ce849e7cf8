using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using CircuitRelay.Abstractions;
using CircuitRelay.InMemory;
using CircuitRelay.InMemory.Muxing;
using static CircuitRelay.Tests.InMemory.InMemoryTestKit;

namespace CircuitRelay.Tests.InMemory;

public sealed class InMemoryHostAddedConnectionTests : InMemoryHostTestBase
{
    private static readonly OpenStreamOptions ExistingOnly = new() { ExistingConnectionOnly = true };
    private static readonly OpenStreamOptions ExistingOnlyAllowLimited = new() { ExistingConnectionOnly = true, AllowLimitedConnection = true };

    [Fact]
    public async Task AddConnectionAsync_CrossedPipes_CarriesConcurrentStreams()
    {
        InMemoryHost a = Network.CreateHost();
        InMemoryHost b = Network.CreateHost();
        b.SetStreamHandler(EchoProtocol, EchoAsync);

        (ConnectionInfo atA, ConnectionInfo atB) = await AddRelayedPairAsync(a, b, limit: null);

        atA.IsRelayed.Should().BeTrue();
        atA.RemoteAddress.IsRelayed.Should().BeTrue();
        atA.IsLimited.Should().BeFalse();
        atA.Direction.Should().Be(ConnectionDirection.Outbound);
        atB.Direction.Should().Be(ConnectionDirection.Inbound);

        async Task RoundTripAsync(int seed)
        {
            byte[] data = RandomBytes(64 * 1024 + seed, seed);
            await using ILibp2pStream stream = await a.OpenStreamAsync(b.PeerId, EchoProtocol, ExistingOnly);
            stream.Connection.Should().BeSameAs(atA);
            Task<byte[]> echoed = stream.Input.ReadToEndAsync();
            await stream.Output.WriteAllAndCompleteAsync(data);
            (await echoed).Should().Equal(data);
        }

        await Task.WhenAll(Enumerable.Range(1, 20).Select(RoundTripAsync)).Within();
    }

    [Fact]
    public async Task AddConnectionAsync_OverStreamsSplicedByARelayHost_CarriesStreamsAndClosesWithTheCircuit()
    {
        InMemoryHost a = Network.CreateHost();
        InMemoryHost relay = Network.CreateHost();
        InMemoryHost b = Network.CreateHost();
        b.AcceptsInboundConnections = false;
        b.SetStreamHandler(EchoProtocol, EchoAsync, new StreamHandlerOptions { AllowLimitedConnection = true });
        var circuitOpen = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var splices = new List<Task>();
        relay.SetStreamHandler("/test/hop", async (hop, cancellationToken) =>
        {
            // The relay opens a "stop" stream to b on b's existing connection and splices both ways.
            ILibp2pStream stop = await relay.OpenStreamAsync(b.PeerId, "/test/stop", ExistingOnly, cancellationToken);
            lock (splices)
            {
                splices.Add(Task.WhenAll(PumpAsync(hop, stop), PumpAsync(stop, hop)));
            }

            circuitOpen.TrySetResult();
        });
        Multiaddr viaRelay = RelayedAddress(relay);
        var inboundAtB = new TaskCompletionSource<Task<ConnectionInfo>>(TaskCreationOptions.RunContinuationsAsynchronously);
        b.SetStreamHandler(
            "/test/stop",
            (stop, _) =>
            {
                inboundAtB.TrySetResult(b.AddConnectionAsync(stop, a.PeerId, viaRelay, ConnectionDirection.Inbound, isRelayed: true, RelayLimit.Default).AsTask());
                return Task.CompletedTask;
            },
            new StreamHandlerOptions { AllowLimitedConnection = true });
        await b.ConnectAsync(relay.PeerId).Within();

        ILibp2pStream hopStream = await a.OpenStreamAsync(relay.PeerId, "/test/hop").Within();
        await circuitOpen.Task.Within();
        ConnectionInfo atA = await a.AddConnectionAsync(hopStream, b.PeerId, viaRelay, ConnectionDirection.Outbound, isRelayed: true, RelayLimit.Default).Within();
        ConnectionInfo atB = await (await inboundAtB.Task.Within()).Within();

        byte[] data = RandomBytes(200_000, seed: 3);
        await using (ILibp2pStream echo = await a.OpenStreamAsync(b.PeerId, EchoProtocol, ExistingOnlyAllowLimited).Within())
        {
            echo.Connection.Should().BeSameAs(atA);
            Task<byte[]> echoed = echo.Input.ReadToEndAsync();
            await echo.Output.WriteAllAndCompleteAsync(data).Within();
            (await echoed.Within()).Should().Equal(data);
        }

        // The relay drops b: the circuit dies, and so does the relayed connection at both ends. (b also loses its
        // own connection to the relay, in either order: wait for the relayed one's event.)
        Task<ConnectionInfo> closedAtA = NextConnectionEvent(h => a.ConnectionClosed += h, c => c == atA);
        Task<ConnectionInfo> closedAtB = NextConnectionEvent(h => b.ConnectionClosed += h, c => c == atB);
        await relay.DisconnectAsync(b.PeerId).Within();

        (await closedAtA.Within()).Should().BeSameAs(atA);
        await closedAtB.Within();
        b.GetConnections(a.PeerId).Should().NotContain(atB);
        await Task.WhenAll(splices).Within();
    }

    [Fact]
    public async Task AddConnectionAsync_ListenerSide_ReachesTheDialersHandlers()
    {
        InMemoryHost a = Network.CreateHost();
        InMemoryHost b = Network.CreateHost();
        a.SetStreamHandler(EchoProtocol, EchoAsync);
        await AddRelayedPairAsync(a, b, limit: null);

        await using ILibp2pStream stream = await b.OpenStreamAsync(a.PeerId, EchoProtocol, ExistingOnly).Within();
        await stream.Output.WriteAllAndCompleteAsync([4, 2]);

        (await stream.Input.ReadToEndAsync().Within()).Should().Equal(4, 2);
        stream.Connection.Direction.Should().Be(ConnectionDirection.Inbound);
    }

    [Fact]
    public async Task OpenStreamAsync_LimitedConnectionAndHandlerWithoutAllowLimited_IsRefused()
    {
        InMemoryHost a = Network.CreateHost();
        InMemoryHost b = Network.CreateHost();
        b.SetStreamHandler(EchoProtocol, EchoAsync);
        await AddRelayedPairAsync(a, b, RelayLimit.Default);

        Func<Task> open = async () => await a.OpenStreamAsync(b.PeerId, EchoProtocol, ExistingOnlyAllowLimited).Within();

        (await open.Should().ThrowAsync<IOException>()).Which.Message.Should().Contain("limited");
    }

    [Fact]
    public async Task OpenStreamAsync_LimitedConnectionAndHandlerAllowingLimited_IsAccepted()
    {
        InMemoryHost a = Network.CreateHost();
        InMemoryHost b = Network.CreateHost();
        b.SetStreamHandler(EchoProtocol, EchoAsync, new StreamHandlerOptions { AllowLimitedConnection = true });
        (ConnectionInfo atA, _) = await AddRelayedPairAsync(a, b, RelayLimit.Default);

        await using ILibp2pStream stream = await a.OpenStreamAsync(b.PeerId, EchoProtocol, ExistingOnlyAllowLimited).Within();
        await stream.Output.WriteAllAndCompleteAsync([1]);

        (await stream.Input.ReadToEndAsync().Within()).Should().Equal(1);
        stream.Connection.Should().BeSameAs(atA);
        stream.Connection.IsLimited.Should().BeTrue();
        stream.Connection.Limit.Should().Be(RelayLimit.Default);
    }

    [Fact]
    public async Task OpenStreamAsync_OnlyLimitedConnectionAndLimitedNotAllowed_DoesNotUseIt()
    {
        InMemoryHost a = Network.CreateHost();
        InMemoryHost b = Network.CreateHost();
        b.SetStreamHandler(EchoProtocol, EchoAsync, new StreamHandlerOptions { AllowLimitedConnection = true });
        await AddRelayedPairAsync(a, b, RelayLimit.Default);

        Func<Task> open = async () => await a.OpenStreamAsync(b.PeerId, EchoProtocol, ExistingOnly).Within();

        await open.Should().ThrowAsync<IOException>();
    }

    [Fact]
    public async Task OpenStreamAsync_DirectAndRelayedConnections_PrefersDirect()
    {
        InMemoryHost a = Network.CreateHost();
        InMemoryHost b = Network.CreateHost();
        b.SetStreamHandler(EchoProtocol, EchoAsync);
        await AddRelayedPairAsync(a, b, limit: null);
        ConnectionInfo direct = await a.ConnectAsync(b.PeerId).Within();

        await using ILibp2pStream stream = await a.OpenStreamAsync(b.PeerId, EchoProtocol, ExistingOnly).Within();

        stream.Connection.Should().BeSameAs(direct);
        a.GetConnections(b.PeerId).Should().HaveCount(2);
    }

    [Fact]
    public async Task AddConnectionAsync_EndsCalledOneAfterTheOther_Works()
    {
        InMemoryHost a = Network.CreateHost();
        InMemoryHost b = Network.CreateHost();
        b.SetStreamHandler(EchoProtocol, EchoAsync);
        (IDuplexPipe atA, IDuplexPipe atB) = DuplexPipe.CreatePair();

        // The dialer's upgrade does not wait for the listener's, and a stream may be opened in between.
        await a.AddConnectionAsync(atA, b.PeerId, AddressOf("10.1.0.2"), ConnectionDirection.Outbound, false, null).Within();
        Task<ILibp2pStream> open = a.OpenStreamAsync(b.PeerId, EchoProtocol, ExistingOnly).AsTask();
        await b.AddConnectionAsync(atB, a.PeerId, AddressOf("10.1.0.1"), ConnectionDirection.Inbound, false, null).Within();

        await using ILibp2pStream stream = await open.Within();
        await stream.Output.WriteAllAndCompleteAsync([5]);
        (await stream.Input.ReadToEndAsync().Within()).Should().Equal(5);
    }

    [Fact]
    public async Task AddConnectionAsync_RemoteIsNotTheExpectedPeer_ClosesTheConnectionOnBothSides()
    {
        InMemoryHost a = Network.CreateHost();
        InMemoryHost b = Network.CreateHost();
        b.SetStreamHandler(EchoProtocol, EchoAsync);
        PeerId impostor = TestIdentity.Create().PeerId;
        (IDuplexPipe atA, IDuplexPipe atB) = DuplexPipe.CreatePair();
        Task<ConnectionInfo> closedAtA = NextConnectionEvent(h => a.ConnectionClosed += h);
        Task<ConnectionInfo> closedAtB = NextConnectionEvent(h => b.ConnectionClosed += h);

        await a.AddConnectionAsync(atA, impostor, AddressOf("10.1.0.2"), ConnectionDirection.Outbound, false, null).Within();
        Task<ILibp2pStream> open = a.OpenStreamAsync(impostor, EchoProtocol, ExistingOnly).AsTask();
        await b.AddConnectionAsync(atB, a.PeerId, AddressOf("10.1.0.1"), ConnectionDirection.Inbound, false, null).Within();

        (await closedAtA.Within()).RemotePeer.Should().Be(impostor);
        (await closedAtB.Within()).RemotePeer.Should().Be(a.PeerId);
        await FluentActions.Awaiting(() => open.Within()).Should().ThrowAsync<IOException>();
        a.GetConnections(impostor).Should().BeEmpty();
        b.GetConnections(a.PeerId).Should().BeEmpty();
    }

    [Fact]
    public async Task RawPipeFails_ConnectionClosedOnceOnBothSidesAndStreamsReset()
    {
        InMemoryHost a = Network.CreateHost();
        InMemoryHost b = Network.CreateHost();
        var parked = new TaskCompletionSource<ILibp2pStream>(TaskCreationOptions.RunContinuationsAsynchronously);
        b.SetStreamHandler("/test/park", (stream, _) =>
        {
            parked.TrySetResult(stream);
            return Task.CompletedTask;
        });
        using var circuit = new CancellationTokenSource();
        (IDuplexPipe atA, IDuplexPipe atB, Task splice) = CreateSplicedPair(circuit.Token);
        await AddPairAsync(a, b, atA, atB, limit: null);
        await using ILibp2pStream client = await a.OpenStreamAsync(b.PeerId, "/test/park", ExistingOnly).Within();
        ILibp2pStream server = await parked.Task.Within();
        int closedAtA = 0;
        int closedAtB = 0;
        Task<ConnectionInfo> closedA = NextConnectionEvent(h => a.ConnectionClosed += h);
        Task<ConnectionInfo> closedB = NextConnectionEvent(h => b.ConnectionClosed += h);
        a.ConnectionClosed += (_, _) => Interlocked.Increment(ref closedAtA);
        b.ConnectionClosed += (_, _) => Interlocked.Increment(ref closedAtB);

        await circuit.CancelAsync(); // the "relay" resets the circuit
        await splice.Within();

        await closedA.Within();
        await closedB.Within();
        await FluentActions.Awaiting(async () => await client.Input.ReadAsync()).Should().ThrowAsync<IOException>();
        await FluentActions.Awaiting(async () => await server.Input.ReadAsync()).Should().ThrowAsync<IOException>();
        await server.DisposeAsync();
        await Network.DisposeAsync().Within();
        closedAtA.Should().Be(1);
        closedAtB.Should().Be(1);
        a.GetConnections(b.PeerId).Should().BeEmpty();
    }

    [Fact]
    public async Task AddConnectionAsync_RemoteSendsUnknownFrameType_ClosesTheConnection()
    {
        InMemoryHost host = Network.CreateHost();
        PeerId remote = TestIdentity.Create().PeerId;
        (IDuplexPipe local, IDuplexPipe peer) = DuplexPipe.CreatePair();
        Task<ConnectionInfo> closed = NextConnectionEvent(h => host.ConnectionClosed += h);
        Task<ConnectionInfo> added = host.AddConnectionAsync(local, remote, AddressOf("10.2.0.1"), ConnectionDirection.Inbound, false, null).AsTask();
        await CompleteHandshakeAsync(peer.Output, remote);
        await added.Within();

        await WriteFrameAsync(peer.Output, 1, (FrameType)0x7F, []);

        (await closed.Within()).RemotePeer.Should().Be(remote);
        await DrainUntilClosedAsync(peer.Input);
        host.GetConnections(remote).Should().BeEmpty();
    }

    [Fact]
    public async Task AddConnectionAsync_RawEndsInsideTheHandshake_ClosesTheConnection()
    {
        InMemoryHost host = Network.CreateHost();
        PeerId remote = TestIdentity.Create().PeerId;
        (IDuplexPipe local, IDuplexPipe peer) = DuplexPipe.CreatePair();
        Task<ConnectionInfo> closed = NextConnectionEvent(h => host.ConnectionClosed += h);
        await host.AddConnectionAsync(local, remote, AddressOf("10.2.0.1"), ConnectionDirection.Outbound, false, null).Within();

        await peer.Output.WriteAsync(new byte[] { 0, 0, 0 }); // a partial header
        await peer.Output.CompleteAsync();

        (await closed.Within()).RemotePeer.Should().Be(remote);
        await DrainUntilClosedAsync(peer.Input);
        host.GetConnections(remote).Should().BeEmpty();
    }

    [Fact]
    public async Task AddConnectionAsync_HostDisposed_ThrowsObjectDisposed()
    {
        InMemoryHost host = Network.CreateHost();
        await host.DisposeAsync();
        (IDuplexPipe local, _) = DuplexPipe.CreatePair();

        Func<Task> add = async () => await host.AddConnectionAsync(local, TestIdentity.Create().PeerId, AddressOf("10.2.0.1"), ConnectionDirection.Inbound, false, null);

        await add.Should().ThrowAsync<ObjectDisposedException>();
    }

    [Fact]
    public async Task AddConnectionAsync_RemoteOverrunsTheReceiveWindow_ClosesTheConnection()
    {
        InMemoryHost host = Network.CreateHost();
        host.SetStreamHandler("/test/park", (_, _) => Task.CompletedTask); // never reads
        PeerId remote = TestIdentity.Create().PeerId;
        (IDuplexPipe local, IDuplexPipe peer) = DuplexPipe.CreatePair();
        Task<ConnectionInfo> closed = NextConnectionEvent(h => host.ConnectionClosed += h);
        Task<ConnectionInfo> added = host.AddConnectionAsync(local, remote, AddressOf("10.2.0.1"), ConnectionDirection.Outbound, false, null).AsTask();
        Task drained = DrainUntilClosedAsync(peer.Input);
        await CompleteHandshakeAsync(peer.Output, remote);
        await added.Within();
        await WriteFrameAsync(peer.Output, 2, FrameType.Open, "/test/park"u8.ToArray());

        byte[] chunk = new byte[MuxFrame.MaxPayload];
        for (int sent = 0; sent <= MuxedStream.ReceiveWindow; sent += chunk.Length)
        {
            await WriteFrameAsync(peer.Output, 2, FrameType.Data, chunk);
        }

        await closed.Within();
        await drained.Within();
    }

    /// <summary>Copies one stream into another like a relay's splice: FIN is passed on, a failure resets both.</summary>
    private static async Task PumpAsync(ILibp2pStream from, ILibp2pStream to)
    {
        try
        {
            while (true)
            {
                ReadResult result = await from.Input.ReadAsync();
                foreach (ReadOnlyMemory<byte> segment in result.Buffer)
                {
                    await to.Output.WriteAsync(segment);
                }

                from.Input.AdvanceTo(result.Buffer.End);
                if (result.IsCompleted)
                {
                    await to.Output.CompleteAsync();
                    return;
                }
            }
        }
        catch (IOException)
        {
            from.Abort();
            to.Abort();
        }
    }

    private static Multiaddr AddressOf(string ip) => Multiaddr.Parse($"/ip4/{ip}/tcp/4001");

    private static Multiaddr RelayedAddress(InMemoryHost relay) =>
        relay.ListenAddress.WithPeerId(relay.PeerId).Encapsulate("/p2p-circuit");

    private async Task<(ConnectionInfo AtA, ConnectionInfo AtB)> AddRelayedPairAsync(InMemoryHost a, InMemoryHost b, RelayLimit? limit)
    {
        (IDuplexPipe atA, IDuplexPipe atB) = DuplexPipe.CreatePair();
        return await AddPairAsync(a, b, atA, atB, limit);
    }

    private async Task<(ConnectionInfo AtA, ConnectionInfo AtB)> AddPairAsync(InMemoryHost a, InMemoryHost b, IDuplexPipe atA, IDuplexPipe atB, RelayLimit? limit)
    {
        InMemoryHost relay = Network.CreateHost();
        Multiaddr viaRelay = RelayedAddress(relay);
        Task<ConnectionInfo> dial = a.AddConnectionAsync(atA, b.PeerId, viaRelay, ConnectionDirection.Outbound, isRelayed: true, limit).AsTask();
        Task<ConnectionInfo> listen = b.AddConnectionAsync(atB, a.PeerId, viaRelay, ConnectionDirection.Inbound, isRelayed: true, limit).AsTask();
        return (await dial.Within(), await listen.Within());
    }

    /// <summary>Two raw ends joined by a splice that, when cancelled, fails both ends like a relay resetting a circuit.</summary>
    private static (IDuplexPipe AtA, IDuplexPipe AtB, Task Splice) CreateSplicedPair(CancellationToken reset)
    {
        (IDuplexPipe atA, IDuplexPipe relayA) = DuplexPipe.CreatePair();
        (IDuplexPipe relayB, IDuplexPipe atB) = DuplexPipe.CreatePair();

        static async Task CopyAsync(PipeReader from, PipeWriter to, CancellationToken reset)
        {
            try
            {
                while (true)
                {
                    ReadResult result = await from.ReadAsync(reset);
                    foreach (ReadOnlyMemory<byte> segment in result.Buffer)
                    {
                        await to.WriteAsync(segment, reset);
                    }

                    from.AdvanceTo(result.Buffer.End);
                    if (result.IsCompleted)
                    {
                        await to.CompleteAsync();
                        await from.CompleteAsync();
                        return;
                    }
                }
            }
            catch (Exception ex) when (ex is OperationCanceledException or IOException)
            {
                // Cancelled, or the other direction's reset reached this one first through a host.
                await to.CompleteAsync(new IOException("The circuit was reset."));
                await from.CompleteAsync();
            }
        }

        Task splice = Task.WhenAll(CopyAsync(relayA.Input, relayB.Output, reset), CopyAsync(relayB.Input, relayA.Output, reset));
        return (atA, atB, splice);
    }

    private static async Task WriteFrameAsync(PipeWriter output, uint streamId, FrameType type, byte[] payload)
    {
        byte[] header = new byte[MuxFrame.HeaderSize];
        MuxFrame.WriteHeader(header, streamId, type, payload.Length);
        output.Write(header);
        output.Write(payload);
        await output.FlushAsync();
    }

    /// <summary>Plays the remote side of the handshake.</summary>
    private static Task CompleteHandshakeAsync(PipeWriter output, PeerId remote) =>
        WriteFrameAsync(output, 0, FrameType.Hello, remote.ToByteArray());

    /// <summary>Reads what the host sends until it closes its side (gracefully or with an IOException).</summary>
    private static async Task DrainUntilClosedAsync(PipeReader input)
    {
        try
        {
            while (true)
            {
                ReadResult result = await input.ReadAsync().Within();
                input.AdvanceTo(result.Buffer.End);
                if (result.IsCompleted)
                {
                    return;
                }
            }
        }
        catch (IOException)
        {
            // The host closed the connection after an error.
        }
    }
}
