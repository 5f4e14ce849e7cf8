using System.Net;
using CircuitRelay.Abstractions;
using CircuitRelay.ReferenceHost.Transports.Memory;
using static CircuitRelay.ReferenceHost.Tests.Transports.Memory.MemoryTestSupport;

namespace CircuitRelay.ReferenceHost.Tests.Transports.Memory;

public sealed class MemoryTransportTests
{
    [Theory]
    [InlineData("/ip4/198.51.100.1/tcp/4001", true)]
    [InlineData("/ip6/2001:db8::1/tcp/4001", true)]
    [InlineData("/ip4/198.51.100.1/tcp/4001/p2p/12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN", true)]
    [InlineData("/ip4/198.51.100.1/tcp/4001/p2p/12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN/p2p-circuit", false)]
    [InlineData("/ip4/198.51.100.1/udp/4001/quic-v1", false)]
    [InlineData("/ip4/198.51.100.1/tcp/4001/ws", false)]
    [InlineData("/dns4/example.com/tcp/4001", false)]
    public void CanDial_Address_MatchesIpTcpOnly(string address, bool expected)
    {
        using var network = new MemoryNetwork();
        MemoryTransport node = network.AddNode(PublicA);

        node.CanDial(Addr(address)).Should().Be(expected);
        node.CanListen(Addr(address)).Should().Be(expected);
        node.Name.Should().Be("memory");
    }

    [Fact]
    public async Task DialAsync_ListenerOnAddress_AcceptorSeesDialerSourceAndDirections()
    {
        using var network = new MemoryNetwork();
        MemoryTransport server = network.AddNode(PublicA);
        MemoryTransport client = network.AddNode(PublicB);
        await using ITransportListener listener = await server.ListenAsync(PublicA, 4001);

        (ITransportConnection dialer, ITransportConnection acceptor) = await client.ConnectAsync(listener);

        dialer.Direction.Should().Be(ConnectionDirection.Outbound);
        dialer.RemoteAddress.Should().Be(Addr("/ip4/198.51.100.1/tcp/4001"));
        dialer.LocalAddress.Should().Be(Addr("/ip4/198.51.100.2/tcp/49152"));
        acceptor.Direction.Should().Be(ConnectionDirection.Inbound);
        acceptor.RemoteAddress.Should().Be(dialer.LocalAddress);
        acceptor.LocalAddress.Should().Be(dialer.RemoteAddress);
        new[] { dialer.ClaimedRemotePeer, dialer.Relay, acceptor.ClaimedRemotePeer, acceptor.Relay }.Should().AllBeEquivalentTo((PeerId?)null);
        dialer.Limit.Should().BeNull();
        acceptor.Limit.Should().BeNull();
    }

    [Fact]
    public async Task DialAsync_AddressWithPeerId_IgnoresThePeerId()
    {
        using var network = new MemoryNetwork();
        MemoryTransport server = network.AddNode(PublicA);
        await using ITransportListener listener = await server.ListenAsync(PublicA, 4001);

        (ITransportConnection dialer, _) = await network.AddNode(PublicB).ConnectAsync(
            listener, Addr("/ip4/198.51.100.1/tcp/4001/p2p/12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN"));

        dialer.RemoteAddress.Should().Be(Addr("/ip4/198.51.100.1/tcp/4001"));
    }

    [Fact]
    public async Task DialAsync_BytesWritten_ArriveAtTheOtherEndInBothDirections()
    {
        using var network = new MemoryNetwork();
        MemoryTransport server = network.AddNode(PublicA);
        await using ITransportListener listener = await server.ListenAsync(PublicA, 4001);
        (ITransportConnection dialer, ITransportConnection acceptor) = await network.AddNode(PublicB).ConnectAsync(listener);

        await dialer.Output.SendAsync([1, 2, 3]);
        await acceptor.Output.SendAsync([4, 5]);
        await dialer.Output.CompleteAsync();
        await acceptor.Output.CompleteAsync();

        (await acceptor.Input.ReadToEndAsync().Within()).Should().Equal(1, 2, 3);
        (await dialer.Input.ReadToEndAsync().Within()).Should().Equal(4, 5);
    }

    [Fact]
    public async Task ListenAsync_PortZero_AllocatesPortsInOrder()
    {
        using var network = new MemoryNetwork();
        MemoryTransport node = network.AddNode(PublicA);

        await using ITransportListener first = await node.ListenAsync(PublicA);
        await using ITransportListener second = await node.ListenAsync(PublicA);

        first.Addresses.Should().Equal(Addr("/ip4/198.51.100.1/tcp/49152"));
        second.Addresses.Should().Equal(Addr("/ip4/198.51.100.1/tcp/49153"));
    }

    [Fact]
    public async Task ListenAsync_Unspecified_BindsEveryAddressOfTheFamily()
    {
        using var network = new MemoryNetwork();
        IPAddress other = IPAddress.Parse("198.51.100.9");
        MemoryTransport node = network.AddNode(PublicA, PublicV6, other);

        await using ITransportListener v4 = await node.ListenAsync(IPAddress.Any, 4001);
        await using ITransportListener v6 = await node.ListenAsync(IPAddress.IPv6Any, 4001);

        v4.Addresses.Should().Equal(Addr("/ip4/198.51.100.1/tcp/4001"), Addr("/ip4/198.51.100.9/tcp/4001"));
        v6.Addresses.Should().Equal(Addr("/ip6/2001:db8::1/tcp/4001"));
    }

    [Fact]
    public async Task DialAsync_IPv6_ConnectsFromTheDialersIPv6Address()
    {
        using var network = new MemoryNetwork();
        MemoryTransport server = network.AddNode(PublicA, PublicV6);
        MemoryTransport client = network.AddNode(PublicB, IPAddress.Parse("2001:db8::2"));
        await using ITransportListener listener = await server.ListenAsync(PublicV6, 4001);

        (ITransportConnection dialer, ITransportConnection acceptor) = await client.ConnectAsync(listener);

        dialer.RemoteAddress.Should().Be(Addr("/ip6/2001:db8::1/tcp/4001"));
        acceptor.RemoteAddress.Should().Be(Addr("/ip6/2001:db8::2/tcp/49152"));
    }

    [Fact]
    public async Task DialAsync_NoAddressOfTheFamily_ThrowsIOException()
    {
        using var network = new MemoryNetwork();
        MemoryTransport server = network.AddNode(PublicV6);
        await using ITransportListener listener = await server.ListenAsync(PublicV6, 4001);

        Func<Task> dial = () => network.AddNode(PublicB).DialAsync(listener.Addresses[0]).Within();

        await dial.Should().ThrowAsync<IOException>().WithMessage("*unreachable*");
    }

    [Fact]
    public async Task ListenAsync_AddressOfAnotherNode_ThrowsIOException()
    {
        using var network = new MemoryNetwork();
        MemoryTransport node = network.AddNode(PublicA);
        network.AddNode(PublicB);

        Func<Task> listen = () => node.ListenAsync(PublicB, 4001);

        await listen.Should().ThrowAsync<IOException>().WithMessage("*not an address of this node*");
    }

    [Fact]
    public async Task ListenAsync_PortTaken_ThrowsIOException()
    {
        using var network = new MemoryNetwork();
        MemoryTransport node = network.AddNode(PublicA);
        await using ITransportListener first = await node.ListenAsync(IPAddress.Any, 4001);

        Func<Task> listen = () => node.ListenAsync(PublicA, 4001);

        await listen.Should().ThrowAsync<IOException>().WithMessage("*already in use*");
    }

    [Fact]
    public async Task ListenAsync_PortOfAClosedListener_CanBeBoundAgain()
    {
        using var network = new MemoryNetwork();
        MemoryTransport node = network.AddNode(PublicA);
        ITransportListener first = await node.ListenAsync(PublicA, 4001);
        await first.DisposeAsync().Within();

        await using ITransportListener second = await node.ListenAsync(PublicA, 4001);

        second.Addresses.Should().Equal(first.Addresses);
    }

    [Fact]
    public async Task DialAsync_NothingListens_ThrowsConnectionRefused()
    {
        using var network = new MemoryNetwork();
        network.AddNode(PublicA);
        MemoryTransport client = network.AddNode(PublicB);

        Func<Task> dial = () => client.DialAsync(TcpAddr(PublicA, 4001)).Within();

        await dial.Should().ThrowAsync<IOException>().WithMessage("Connection refused*");
    }

    [Fact]
    public async Task DialAsync_UnknownAddress_ThrowsConnectionRefused()
    {
        using var network = new MemoryNetwork();
        MemoryTransport client = network.AddNode(PublicB);

        Func<Task> dial = () => client.DialAsync(TcpAddr(IPAddress.Parse("198.51.100.200"), 4001)).Within();

        await dial.Should().ThrowAsync<IOException>().WithMessage("Connection refused*");
    }

    [Fact]
    public async Task DialAsync_CircuitAddress_ThrowsArgumentException()
    {
        using var network = new MemoryNetwork();
        MemoryTransport client = network.AddNode(PublicB);

        Func<Task> dial = () => client.DialAsync(Addr("/ip4/198.51.100.1/tcp/4001/p2p/12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN/p2p-circuit")).AsTask();

        await dial.Should().ThrowAsync<ArgumentException>();
    }

    [Fact]
    public async Task DialAsync_BacklogFull_RefusesTheNextDial()
    {
        using var network = new MemoryNetwork();
        MemoryTransport server = network.AddNode(PublicA);
        MemoryTransport client = network.AddNode(PublicB);
        await using ITransportListener listener = await server.ListenAsync(PublicA, 4001);
        for (int i = 0; i < MemoryListener.Backlog; i++)
        {
            await client.DialAsync(listener.Addresses[0]).Within();
        }

        Func<Task> dial = () => client.DialAsync(listener.Addresses[0]).Within();

        await dial.Should().ThrowAsync<IOException>().WithMessage("*backlog*");
    }

    [Fact]
    public async Task DialAsync_BacklogDrainedByAccept_AcceptsAgain()
    {
        using var network = new MemoryNetwork();
        MemoryTransport server = network.AddNode(PublicA);
        MemoryTransport client = network.AddNode(PublicB);
        await using ITransportListener listener = await server.ListenAsync(PublicA, 4001);
        for (int i = 0; i < MemoryListener.Backlog; i++)
        {
            await client.DialAsync(listener.Addresses[0]).Within();
        }

        await listener.AcceptAsync().Within();

        await client.DialAsync(listener.Addresses[0]).Within();
    }

    [Fact]
    public async Task AcceptAsync_ListenerDisposed_ReturnsNull()
    {
        using var network = new MemoryNetwork();
        ITransportListener listener = await network.AddNode(PublicA).ListenAsync(PublicA, 4001);

        await listener.DisposeAsync().Within();

        (await listener.AcceptAsync().Within()).Should().BeNull();
    }

    [Fact]
    public async Task AcceptAsync_PendingWhenListenerDisposed_ReturnsNull()
    {
        using var network = new MemoryNetwork();
        ITransportListener listener = await network.AddNode(PublicA).ListenAsync(PublicA, 4001);
        Task<ITransportConnection?> accept = listener.AcceptAsync().AsTask();

        await listener.DisposeAsync().Within();
        await listener.DisposeAsync().Within();

        (await accept.Within()).Should().BeNull();
    }

    [Fact]
    public async Task DisposeAsync_ListenerWithUnacceptedConnection_ResetsIt()
    {
        using var network = new MemoryNetwork();
        ITransportListener listener = await network.AddNode(PublicA).ListenAsync(PublicA, 4001);
        ITransportConnection dialer = await network.AddNode(PublicB).DialAsync(listener.Addresses[0]).Within();

        await listener.DisposeAsync().Within();

        Func<Task> read = () => dialer.Input.ReadAsync().Within();
        await read.Should().ThrowAsync<IOException>().WithMessage("*reset*");
    }

    [Fact]
    public async Task DialAsync_ListenerDisposed_ThrowsConnectionRefused()
    {
        using var network = new MemoryNetwork();
        ITransportListener listener = await network.AddNode(PublicA).ListenAsync(PublicA, 4001);
        await listener.DisposeAsync().Within();

        Func<Task> dial = () => network.AddNode(PublicB).DialAsync(listener.Addresses[0]).Within();

        await dial.Should().ThrowAsync<IOException>().WithMessage("Connection refused*");
    }

    [Fact]
    public async Task DialAsync_ReuseListenPort_UsesTheListenPortAsSource()
    {
        using var network = new MemoryNetwork();
        MemoryTransport server = network.AddNode(PublicA);
        MemoryTransport client = network.AddNode(PublicB);
        await using ITransportListener listener = await server.ListenAsync(PublicA, 4001);
        await using ITransportListener own = await client.ListenAsync(PublicB, 4002);

        (ITransportConnection dialer, ITransportConnection acceptor) = await client.ConnectAsync(listener, listener.Addresses[0], reuseListenPort: true);

        dialer.LocalAddress.Should().Be(Addr("/ip4/198.51.100.2/tcp/4002"));
        acceptor.RemoteAddress.Should().Be(Addr("/ip4/198.51.100.2/tcp/4002"));
    }

    [Fact]
    public async Task DialAsync_ReuseListenPortWithoutListener_UsesAnEphemeralPort()
    {
        using var network = new MemoryNetwork();
        MemoryTransport server = network.AddNode(PublicA);
        await using ITransportListener listener = await server.ListenAsync(PublicA, 4001);

        (ITransportConnection dialer, _) = await network.AddNode(PublicB).ConnectAsync(listener, listener.Addresses[0], reuseListenPort: true);

        dialer.LocalAddress.Should().Be(Addr("/ip4/198.51.100.2/tcp/49152"));
    }

    [Fact]
    public async Task DialAsync_SecondDial_GetsTheNextEphemeralPort()
    {
        using var network = new MemoryNetwork();
        MemoryTransport server = network.AddNode(PublicA);
        MemoryTransport client = network.AddNode(PublicB);
        await using ITransportListener listener = await server.ListenAsync(PublicA, 4001);

        (ITransportConnection first, _) = await client.ConnectAsync(listener);
        (ITransportConnection second, _) = await client.ConnectAsync(listener);

        first.LocalAddress.Should().Be(Addr("/ip4/198.51.100.2/tcp/49152"));
        second.LocalAddress.Should().Be(Addr("/ip4/198.51.100.2/tcp/49153"));
    }

    [Fact]
    public void AddNode_AddressInUse_ThrowsArgumentException()
    {
        using var network = new MemoryNetwork();
        network.AddNode(PublicA);

        Action add = () => network.AddNode(PublicA);

        add.Should().Throw<ArgumentException>();
    }

    [Fact]
    public async Task Dispose_Network_ResetsConnectionsAndClosesListeners()
    {
        var network = new MemoryNetwork();
        MemoryTransport server = network.AddNode(PublicA);
        ITransportListener listener = await server.ListenAsync(PublicA, 4001);
        (ITransportConnection dialer, ITransportConnection acceptor) = await network.AddNode(PublicB).ConnectAsync(listener);

        network.Dispose();

        (await listener.AcceptAsync().Within()).Should().BeNull();
        Func<Task> read = () => acceptor.Input.ReadAsync().Within();
        await read.Should().ThrowAsync<IOException>();
        Func<Task> flush = () => dialer.Output.WriteAsync(new byte[1]).Within();
        await flush.Should().ThrowAsync<IOException>();
    }

    [Fact]
    public async Task DialAsync_NetworkDisposed_ThrowsIOException()
    {
        var network = new MemoryNetwork();
        MemoryTransport client = network.AddNode(PublicB);
        network.Dispose();

        Func<Task> dial = () => client.DialAsync(TcpAddr(PublicA, 4001)).Within();

        await dial.Should().ThrowAsync<IOException>().WithMessage("*disposed*");
    }
}
