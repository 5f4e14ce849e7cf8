using System.Net;
using CircuitRelay.Abstractions;
using CircuitRelay.Tests.Infrastructure;
using static CircuitRelay.Tests.Host.HostTestKit;

namespace CircuitRelay.Tests.Host;

/// <summary>The connection half of the plug-in surface (events, GetConnections, addresses, disconnects), on the reference host over the memory transport.</summary>
public sealed class HostConnectionTests : IAsyncLifetime
{
    private readonly RelayFixture _fixture = RelayFixture.Create();

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync() => await _fixture.DisposeAsync();

    [Fact]
    public async Task ConnectAsync_TwoHosts_BothRaiseConnectionOpened()
    {
        TestNode a = _fixture.CreateNode();
        TestNode b = _fixture.CreateNode();
        Task<ConnectionInfo> openedAtA = NextConnectionEvent(h => a.Host.ConnectionOpened += h);
        Task<ConnectionInfo> openedAtB = NextConnectionEvent(h => b.Host.ConnectionOpened += h);

        ConnectionInfo connection = await a.Host.DialAsync(b.Address).Within();

        (await openedAtA.Within()).Should().BeSameAs(connection);
        ConnectionInfo inbound = await openedAtB.Within();
        inbound.RemotePeer.Should().Be(a.Id);
        inbound.Direction.Should().Be(ConnectionDirection.Inbound);
        connection.Direction.Should().Be(ConnectionDirection.Outbound);
        connection.IsRelayed.Should().BeFalse();
        a.Host.GetConnections(b.Id).Should().ContainSingle().Which.Should().BeSameAs(connection);
        b.Host.GetConnections(a.Id).Should().ContainSingle().Which.Should().BeSameAs(inbound);
    }

    [Fact]
    public async Task ConnectAsync_AlreadyConnected_ReusesTheConnection()
    {
        TestNode a = _fixture.CreateNode();
        TestNode b = _fixture.CreateNode();

        ConnectionInfo first = await a.Host.DialAsync(b.Address).Within();
        ConnectionInfo second = await a.Host.DialAsync(b.Address).Within();

        second.Should().BeSameAs(first);
    }

    [Fact]
    public async Task OpenStreamAsync_ConcurrentFirstStreams_ShareOneDial()
    {
        TestNode a = _fixture.CreateNode();
        TestNode b = _fixture.CreateNode();
        b.Host.SetStreamHandler(EchoProtocol, EchoAsync);

        ILibp2pStream[] streams = await Task.WhenAll(
            Enumerable.Range(0, 8).Select(_ => a.Host.OpenStreamAsync(b.Id, EchoProtocol, b.DialHere).AsTask())).Within();

        streams.Select(s => s.Connection).Distinct().Should().ContainSingle();
        a.Host.GetConnections(b.Id).Should().ContainSingle();
        foreach (ILibp2pStream stream in streams)
        {
            await stream.DisposeAsync();
        }
    }

    [Fact]
    public async Task ConnectAsync_ToSelf_ThrowsIOException()
    {
        TestNode a = _fixture.CreateNode();

        Func<Task> connect = async () => await a.Host.DialAsync(a.Address);

        await connect.Should().ThrowAsync<IOException>();
    }

    [Fact]
    public async Task ConnectAsync_Addresses_DialerSeesListenAddressListenerSeesDialerIpAndEphemeralPort()
    {
        TestNode a = _fixture.CreateNode();
        TestNode b = _fixture.CreateNode();
        Task<ConnectionInfo> openedAtB = NextConnectionEvent(h => b.Host.ConnectionOpened += h);

        ConnectionInfo outbound = await a.Host.DialAsync(b.Address).Within();
        ConnectionInfo inbound = await openedAtB.Within();

        outbound.RemoteAddress.Should().Be(b.Host.ListenAddresses[0]);
        inbound.LocalAddress.Should().Be(b.Host.ListenAddresses[0]);
        inbound.RemoteAddress.Should().Be(outbound.LocalAddress);
        EndPointOf(inbound.RemoteAddress).Address.Should().Be(EndPointOf(a.Host.ListenAddresses[0]).Address);
        EndPointOf(inbound.RemoteAddress).Port.Should().BeGreaterThanOrEqualTo(49152);
    }

    [Fact]
    public async Task ConnectAsync_HostsSharingAnIp_RemoteAddressesShowThatIp()
    {
        // Two nodes behind one NAT: the relay sees the NAT's ip with a port per mapping.
        TestNode first = _fixture.CreateNode("192.0.2.7");
        TestNode second = _fixture.CreateNode("192.0.2.7");
        var inbound = new List<ConnectionInfo>();
        var both = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _fixture.RelayHost.ConnectionOpened += (_, e) =>
        {
            lock (inbound)
            {
                inbound.Add(e.Connection);
                if (inbound.Count == 2)
                {
                    both.TrySetResult();
                }
            }
        };

        await first.Host.DialAsync(_fixture.RelayAddress).Within();
        await second.Host.DialAsync(_fixture.RelayAddress).Within();
        await both.Task.Within();

        inbound.Select(c => EndPointOf(c.RemoteAddress).Address).Should().AllBeEquivalentTo(IPAddress.Parse("192.0.2.7"));
        inbound.Select(c => EndPointOf(c.RemoteAddress).Port).Should().OnlyHaveUniqueItems();
    }

    [Fact]
    public void AddExternalAddress_NewAddress_AppearsAfterTheListenAddressOnce()
    {
        TestNode node = _fixture.CreateNode();
        Multiaddr external = Multiaddr.Parse("/ip4/203.0.113.5/tcp/4001");

        node.Host.AddExternalAddress(external).Should().BeTrue();
        node.Host.AddExternalAddress(external).Should().BeFalse();

        node.Host.Addresses.Should().Equal(node.Host.ListenAddresses[0], external);
    }

    [Fact]
    public async Task ConnectAsync_TargetGateRefusesInbound_ThrowsIOExceptionAndTargetStillDialsOut()
    {
        TestNode a = _fixture.CreateNode();
        TestNode guarded = _fixture.CreateNode();
        var gate = new DenyGate(InboundStage.Connection);
        using IDisposable registration = guarded.Host.AddGate(gate);

        Func<Task> connect = async () => await a.Host.DialAsync(guarded.Address);

        await connect.Should().ThrowAsync<IOException>();
        gate.Denied.Should().Be(1);
        (await guarded.Host.DialAsync(a.Address).Within()).RemotePeer.Should().Be(a.Id);
    }

    [Fact]
    public async Task ConnectAsync_NodeBehindNat_ThrowsIOExceptionAndNodeStillDialsOut()
    {
        TestNode a = _fixture.CreateNode();
        TestNode natted = _fixture.CreateNode("203.0.113.50");
        Multiaddr viaNat = Multiaddr.Parse($"/ip4/203.0.113.50/tcp/{RelayFixture.ListenPort}/p2p/{natted.Id}");

        Func<Task> connect = async () => await a.Host.DialAsync(viaNat);

        await connect.Should().ThrowAsync<IOException>();
        (await natted.Host.DialAsync(a.Address).Within()).RemotePeer.Should().Be(a.Id);
    }

    [Fact]
    public async Task ConnectAsync_WrongPeerId_FailsOnBothSides()
    {
        TestNode a = _fixture.CreateNode();
        TestNode b = _fixture.CreateNode();
        using var impostor = global::CircuitRelay.Crypto.KeyIdentity.Generate();

        Func<Task> connect = async () => await a.Host.DialAsync(b.Host.ListenAddresses[0].WithPeerId(impostor.PeerId));

        await connect.Should().ThrowAsync<IOException>();
        a.Host.GetConnections(impostor.PeerId).Should().BeEmpty();
        a.Host.GetConnections(b.Id).Should().BeEmpty();
        b.Host.GetConnections(a.Id).Should().BeEmpty();
    }

    [Fact]
    public async Task DisconnectAsync_OpenStream_BothSidesRaiseConnectionClosedAndStreamsReset()
    {
        TestNode a = _fixture.CreateNode();
        TestNode b = _fixture.CreateNode();
        var serverRead = new TaskCompletionSource<Exception?>(TaskCreationOptions.RunContinuationsAsynchronously);
        b.Host.SetStreamHandler("/test/wait", async (stream, _) =>
        {
            await using (stream)
            {
                try
                {
                    await stream.Input.ReadToEndAsync();
                    serverRead.TrySetResult(null);
                }
                catch (Exception exception)
                {
                    serverRead.TrySetResult(exception);
                }
            }
        });
        await using ILibp2pStream client = await a.Host.OpenStreamAsync(b.Id, "/test/wait", b.DialHere).Within();
        Task<ConnectionInfo> closedAtA = NextConnectionEvent(h => a.Host.ConnectionClosed += h);
        Task<ConnectionInfo> closedAtB = NextConnectionEvent(h => b.Host.ConnectionClosed += h);

        await a.Host.DisconnectAsync(b.Id).Within();

        (await closedAtA.Within()).Should().BeSameAs(client.Connection);
        (await closedAtB.Within()).RemotePeer.Should().Be(a.Id);
        (await serverRead.Task.Within()).Should().BeAssignableTo<IOException>();
        await FluentActions.Awaiting(async () => await client.Input.ReadAsync()).Should().ThrowAsync<IOException>();
        a.Host.GetConnections(b.Id).Should().BeEmpty();
        b.Host.GetConnections(a.Id).Should().BeEmpty();
        client.Connection.Closed.IsCancellationRequested.Should().BeTrue();
    }

    [Fact]
    public async Task DisconnectAsync_ConnectionClosed_IsRaisedOncePerSide()
    {
        TestNode a = _fixture.CreateNode();
        TestNode b = _fixture.CreateNode();
        Task<ConnectionInfo> openedAtB = NextConnectionEvent(h => b.Host.ConnectionOpened += h);
        await a.Host.DialAsync(b.Address).Within();
        await openedAtB.Within(); // the dial returns once the dialer's side is up; b's finishes a moment later
        int closedAtA = 0;
        int closedAtB = 0;
        a.Host.ConnectionClosed += (_, e) => Count(e, b.Id, ref closedAtA);
        b.Host.ConnectionClosed += (_, e) => Count(e, a.Id, ref closedAtB);
        Task<ConnectionInfo> closedB = NextConnectionEvent(h => b.Host.ConnectionClosed += h);

        await RelayFixture.DisconnectAsync(a, b.Id);
        await closedB.Within();
        await RelayFixture.DisconnectAsync(b, a.Id);
        await a.Host.DisposeAsync().Within();
        await b.Host.DisposeAsync().Within();

        closedAtA.Should().Be(1);
        closedAtB.Should().Be(1);
    }

    [Fact]
    public async Task AbortAll_NodeDies_PeerRaisesConnectionClosedAndStreamsReset()
    {
        TestNode a = _fixture.CreateNode();
        TestNode b = _fixture.CreateNode();
        b.Host.SetStreamHandler(EchoProtocol, EchoAsync);
        await using ILibp2pStream stream = await a.Host.OpenStreamAsync(b.Id, EchoProtocol, b.DialHere).Within();
        Task<ConnectionInfo> closedAtA = NextConnectionEvent(h => a.Host.ConnectionClosed += h, c => c.RemotePeer == b.Id);
        Multiaddr address = b.Address;

        b.Network.AbortAll();

        (await closedAtA.Within()).Should().BeSameAs(stream.Connection);
        await FluentActions.Awaiting(async () => await stream.Input.ReadAsync().Within()).Should().ThrowAsync<IOException>();
        a.Host.GetConnections(b.Id).Should().BeEmpty();
        await FluentActions.Awaiting(async () => await a.Host.DialAsync(address)).Should().ThrowAsync<IOException>("the dead node listens no more");
    }

    [Fact]
    public async Task DisposeAsync_Hosts_CloseEverythingAndAwaitEveryHandler()
    {
        TestNode a = _fixture.CreateNode();
        TestNode b = _fixture.CreateNode();
        var handlerEnded = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
        var handlerStarted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        b.Host.SetStreamHandler("/test/forever", async (stream, cancellationToken) =>
        {
            await using (stream)
            {
                try
                {
                    handlerStarted.TrySetResult();
                    await new TaskCompletionSource().Task.WaitAsync(cancellationToken);
                }
                finally
                {
                    handlerEnded.TrySetResult(cancellationToken.IsCancellationRequested);
                }
            }
        });
        b.Host.SetStreamHandler(EchoProtocol, EchoAsync);
        ILibp2pStream forever = await a.Host.OpenStreamAsync(b.Id, "/test/forever", b.DialHere).Within();
        ILibp2pStream echo = await a.Host.OpenStreamAsync(b.Id, EchoProtocol).Within();
        await handlerStarted.Task.Within();
        Task<ConnectionInfo> closedAtA = NextConnectionEvent(h => a.Host.ConnectionClosed += h, c => c.RemotePeer == b.Id);
        Task<ConnectionInfo> closedAtB = NextConnectionEvent(h => b.Host.ConnectionClosed += h, c => c.RemotePeer == a.Id);

        await a.Host.DisposeAsync().Within();
        await b.Host.DisposeAsync().Within();

        handlerEnded.Task.IsCompleted.Should().BeTrue("disposal awaits every handler");
        (await handlerEnded.Task).Should().BeTrue("handlers see the shutdown token");
        closedAtA.IsCompleted.Should().BeTrue();
        closedAtB.IsCompleted.Should().BeTrue();
        await FluentActions.Awaiting(async () => await echo.Input.ReadAsync()).Should().ThrowAsync<IOException>();
        await FluentActions.Awaiting(async () => await a.Host.OpenStreamAsync(b.Id, EchoProtocol)).Should().ThrowAsync<ObjectDisposedException>();
        await forever.DisposeAsync();
        await echo.DisposeAsync();
        await a.Host.DisposeAsync().Within();
    }

    private static void Count(ConnectionEventArgs e, PeerId peer, ref int count)
    {
        if (e.Connection.RemotePeer == peer)
        {
            Interlocked.Increment(ref count);
        }
    }

    private static IPEndPoint EndPointOf(Multiaddr address)
    {
        address.TryGetIPEndPoint(out IPEndPoint? endPoint).Should().BeTrue();
        return endPoint!;
    }
}
