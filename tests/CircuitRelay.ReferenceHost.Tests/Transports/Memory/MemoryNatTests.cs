using System.Net;
using CircuitRelay.Abstractions;
using CircuitRelay.ReferenceHost.Transports.Memory;
using static CircuitRelay.ReferenceHost.Tests.Transports.Memory.MemoryTestSupport;

namespace CircuitRelay.ReferenceHost.Tests.Transports.Memory;

public sealed class MemoryNatTests : IAsyncLifetime
{
    private readonly MemoryNetwork _network = new();
    private MemoryTransport _server = null!;
    private ITransportListener _serverListener = null!;

    public async Task InitializeAsync()
    {
        _server = _network.AddNode(PublicA);
        _serverListener = await _server.ListenAsync(PublicA, 4001);
    }

    public async Task DisposeAsync()
    {
        await _serverListener.DisposeAsync();
        _network.Dispose();
    }

    [Fact]
    public async Task DialAsync_FromBehindNat_PublicSideSeesTheMappedAddress()
    {
        MemoryTransport inside = _network.AddNat(NatA, NatMapping.EndpointIndependent).AddNode(Private1);

        (ITransportConnection dialer, ITransportConnection acceptor) = await inside.ConnectAsync(_serverListener);

        dialer.LocalAddress.Should().Be(Addr("/ip4/192.168.1.2/tcp/49152"));
        acceptor.RemoteAddress.Should().Be(Addr("/ip4/203.0.113.1/tcp/40000"));
    }

    [Fact]
    public async Task DialAsync_FromBehindNat_CarriesBytesBothWays()
    {
        MemoryTransport inside = _network.AddNat(NatA, NatMapping.Symmetric).AddNode(Private1);
        (ITransportConnection dialer, ITransportConnection acceptor) = await inside.ConnectAsync(_serverListener);

        await dialer.Output.SendAsync([1, 2]);
        await dialer.Output.CompleteAsync();
        await acceptor.Output.SendAsync([3]);
        await acceptor.Output.CompleteAsync();

        (await acceptor.Input.ReadToEndAsync().Within()).Should().Equal(1, 2);
        (await dialer.Input.ReadToEndAsync().Within()).Should().Equal(3);
    }

    [Fact]
    public async Task DialAsync_UnsolicitedToNatListenPort_IsFiltered()
    {
        MemoryTransport inside = _network.AddNat(NatA, NatMapping.EndpointIndependent).AddNode(Private1);
        await using ITransportListener listener = await inside.ListenAsync(Private1, 4001);

        Func<Task> dial = () => _server.DialAsync(TcpAddr(NatA, 4001)).Within();

        await dial.Should().ThrowAsync<IOException>().WithMessage("Filtered by the NAT at 203.0.113.1*");
    }

    [Fact]
    public async Task DialAsync_FromAnIPTheMappingHasNotSentTo_IsFiltered()
    {
        MemoryTransport inside = _network.AddNat(NatA, NatMapping.EndpointIndependent).AddNode(Private1);
        await using ITransportListener listener = await inside.ListenAsync(Private1, 4001);
        await inside.ConnectAsync(_serverListener, _serverListener.Addresses[0], reuseListenPort: true);
        MemoryTransport stranger = _network.AddNode(PublicB);

        Func<Task> dial = () => stranger.DialAsync(TcpAddr(NatA, 40000)).Within();

        await dial.Should().ThrowAsync<IOException>().WithMessage("Filtered*has not sent to 198.51.100.2*");
    }

    [Fact]
    public async Task DialAsync_FromAnIPTheEndpointIndependentMappingSentTo_IsLetIn()
    {
        MemoryTransport inside = _network.AddNat(NatA, NatMapping.EndpointIndependent).AddNode(Private1);
        await using ITransportListener listener = await inside.ListenAsync(Private1, 4001);
        (_, ITransportConnection observed) = await inside.ConnectAsync(_serverListener, _serverListener.Addresses[0], reuseListenPort: true);

        // Any port of the IP the mapping sent to passes address-restricted filtering.
        (ITransportConnection back, ITransportConnection accepted) = await _server.ConnectAsync(listener, observed.RemoteAddress);

        observed.RemoteAddress.Should().Be(Addr("/ip4/203.0.113.1/tcp/40000"));
        back.LocalAddress.Should().Be(Addr("/ip4/198.51.100.1/tcp/49152"));
        accepted.RemoteAddress.Should().Be(Addr("/ip4/198.51.100.1/tcp/49152"));
        accepted.LocalAddress.Should().Be(Addr("/ip4/203.0.113.1/tcp/40000"));
    }

    [Fact]
    public async Task DialAsync_MappingToAPortNobodyListensOn_IsRefused()
    {
        MemoryTransport inside = _network.AddNat(NatA, NatMapping.EndpointIndependent).AddNode(Private1);
        (_, ITransportConnection observed) = await inside.ConnectAsync(_serverListener);

        Func<Task> dial = () => _server.DialAsync(observed.RemoteAddress).Within();

        await dial.Should().ThrowAsync<IOException>().WithMessage("Connection refused*");
    }

    [Fact]
    public async Task DialAsync_EndpointIndependent_SameMappingForEveryDestination()
    {
        MemoryTransport other = _network.AddNode(PublicB);
        await using ITransportListener otherListener = await other.ListenAsync(PublicB, 4001);
        MemoryTransport inside = _network.AddNat(NatA, NatMapping.EndpointIndependent).AddNode(Private1);
        await using ITransportListener listener = await inside.ListenAsync(Private1, 4001);

        (_, ITransportConnection first) = await inside.ConnectAsync(_serverListener, _serverListener.Addresses[0], reuseListenPort: true);
        (_, ITransportConnection second) = await inside.ConnectAsync(otherListener, otherListener.Addresses[0], reuseListenPort: true);

        first.RemoteAddress.Should().Be(Addr("/ip4/203.0.113.1/tcp/40000"));
        second.RemoteAddress.Should().Be(first.RemoteAddress);
    }

    [Fact]
    public async Task DialAsync_Symmetric_NewPublicPortPerDestination()
    {
        MemoryTransport other = _network.AddNode(PublicB);
        await using ITransportListener otherListener = await other.ListenAsync(PublicB, 4001);
        MemoryTransport inside = _network.AddNat(NatA, NatMapping.Symmetric).AddNode(Private1);
        await using ITransportListener listener = await inside.ListenAsync(Private1, 4001);

        (_, ITransportConnection first) = await inside.ConnectAsync(_serverListener, _serverListener.Addresses[0], reuseListenPort: true);
        (_, ITransportConnection second) = await inside.ConnectAsync(otherListener, otherListener.Addresses[0], reuseListenPort: true);
        (_, ITransportConnection again) = await inside.ConnectAsync(_serverListener, _serverListener.Addresses[0], reuseListenPort: true);

        first.RemoteAddress.Should().Be(Addr("/ip4/203.0.113.1/tcp/40000"));
        second.RemoteAddress.Should().Be(Addr("/ip4/203.0.113.1/tcp/40001"));
        again.RemoteAddress.Should().Be(first.RemoteAddress);
    }

    [Fact]
    public async Task DialAsync_SymmetricMappingFromAnotherDestination_IsFiltered()
    {
        MemoryTransport other = _network.AddNode(PublicB);
        await using ITransportListener otherListener = await other.ListenAsync(PublicB, 4001);
        MemoryTransport inside = _network.AddNat(NatA, NatMapping.Symmetric).AddNode(Private1);
        await using ITransportListener listener = await inside.ListenAsync(Private1, 4001);
        (_, ITransportConnection first) = await inside.ConnectAsync(_serverListener, _serverListener.Addresses[0], reuseListenPort: true);
        await inside.ConnectAsync(otherListener, otherListener.Addresses[0], reuseListenPort: true);

        Func<Task> dial = () => other.DialAsync(first.RemoteAddress, new TransportDialOptions { ReuseListenPort = true }).Within();

        await dial.Should().ThrowAsync<IOException>().WithMessage("Filtered*admits only /ip4/198.51.100.1/tcp/4001*");
    }

    [Fact]
    public async Task DialAsync_SymmetricMappingFromADifferentPortOfItsDestination_IsFiltered()
    {
        MemoryTransport inside = _network.AddNat(NatA, NatMapping.Symmetric).AddNode(Private1);
        await using ITransportListener listener = await inside.ListenAsync(Private1, 4001);
        (_, ITransportConnection first) = await inside.ConnectAsync(_serverListener, _serverListener.Addresses[0], reuseListenPort: true);

        Func<Task> dial = () => _server.DialAsync(first.RemoteAddress).Within();

        await dial.Should().ThrowAsync<IOException>().WithMessage("Filtered*");
    }

    [Fact]
    public async Task DialAsync_SymmetricMappingFromItsExactDestination_IsLetIn()
    {
        MemoryTransport inside = _network.AddNat(NatA, NatMapping.Symmetric).AddNode(Private1);
        await using ITransportListener listener = await inside.ListenAsync(Private1, 4001);
        (_, ITransportConnection first) = await inside.ConnectAsync(_serverListener, _serverListener.Addresses[0], reuseListenPort: true);

        (_, ITransportConnection accepted) = await _server.ConnectAsync(listener, first.RemoteAddress, reuseListenPort: true);

        accepted.RemoteAddress.Should().Be(Addr("/ip4/198.51.100.1/tcp/4001"));
    }

    [Fact]
    public async Task DialAsync_TwoNodesBehindTwoNatsAfterBothDial_Connects()
    {
        MemoryTransport a = _network.AddNat(NatA, NatMapping.EndpointIndependent).AddNode(Private1);
        MemoryTransport b = _network.AddNat(NatB, NatMapping.EndpointIndependent).AddNode(Private1);
        await using ITransportListener listenerA = await a.ListenAsync(Private1, 4001);
        await using ITransportListener listenerB = await b.ListenAsync(Private1, 4001);

        // Both learn their observed address from a public node (as identify / AutoNAT would tell them).
        (_, ITransportConnection observedA) = await a.ConnectAsync(_serverListener, _serverListener.Addresses[0], reuseListenPort: true);
        (_, ITransportConnection observedB) = await b.ConnectAsync(_serverListener, _serverListener.Addresses[0], reuseListenPort: true);

        // A's SYN is dropped by B's NAT, but it opens A's NAT for B's public IP.
        Func<Task> first = () => a.DialAsync(observedB.RemoteAddress, new TransportDialOptions { ReuseListenPort = true }).Within();
        await first.Should().ThrowAsync<IOException>().WithMessage("Filtered by the NAT at 203.0.113.2*");

        // B's dial opens B's NAT for A's IP and passes A's NAT.
        (ITransportConnection fromB, ITransportConnection atA) = await b.ConnectAsync(listenerA, observedA.RemoteAddress, reuseListenPort: true);

        atA.RemoteAddress.Should().Be(observedB.RemoteAddress);
        await fromB.Output.SendAsync([42]);
        await fromB.Output.CompleteAsync();
        (await atA.Input.ReadToEndAsync().Within()).Should().Equal(42);
    }

    [Fact]
    public async Task DialAsync_TwoNatsWithoutTheOtherSideDialing_IsFiltered()
    {
        MemoryTransport a = _network.AddNat(NatA, NatMapping.EndpointIndependent).AddNode(Private1);
        MemoryTransport b = _network.AddNat(NatB, NatMapping.EndpointIndependent).AddNode(Private1);
        await using ITransportListener listenerA = await a.ListenAsync(Private1, 4001);
        (_, ITransportConnection observedA) = await a.ConnectAsync(_serverListener, _serverListener.Addresses[0], reuseListenPort: true);

        Func<Task> dial = () => b.DialAsync(observedA.RemoteAddress, new TransportDialOptions { ReuseListenPort = true }).Within();

        await dial.Should().ThrowAsync<IOException>().WithMessage("Filtered by the NAT at 203.0.113.1*");
    }

    [Fact]
    public async Task DialAsync_PrivateAddressBehindAnotherNat_IsRefused()
    {
        MemoryTransport a = _network.AddNat(NatA, NatMapping.EndpointIndependent).AddNode(Private1);
        MemoryTransport b = _network.AddNat(NatB, NatMapping.EndpointIndependent).AddNode(Private2);
        await using ITransportListener listenerA = await a.ListenAsync(Private1, 4001);

        Func<Task> dial = () => b.DialAsync(TcpAddr(Private1, 4001)).Within();

        await dial.Should().ThrowAsync<IOException>().WithMessage("Connection refused*");
    }

    [Fact]
    public async Task DialAsync_NeighbourBehindTheSameNat_ConnectsOnPrivateAddresses()
    {
        MemoryNat nat = _network.AddNat(NatA, NatMapping.Symmetric);
        MemoryTransport a = nat.AddNode(Private1);
        MemoryTransport b = nat.AddNode(Private2);
        await using ITransportListener listenerA = await a.ListenAsync(Private1, 4001);

        (_, ITransportConnection accepted) = await b.ConnectAsync(listenerA);

        accepted.RemoteAddress.Should().Be(Addr("/ip4/192.168.1.3/tcp/49152"));
    }

    [Fact]
    public void AddNode_BehindNatWithTheOtherFamily_ThrowsArgumentException()
    {
        MemoryNat nat = _network.AddNat(NatA, NatMapping.EndpointIndependent);

        Action add = () => nat.AddNode(IPAddress.Parse("fd00::2"));

        add.Should().Throw<ArgumentException>();
    }

    [Fact]
    public void AddNat_PublicAddressOfANode_ThrowsArgumentException()
    {
        Action add = () => _network.AddNat(PublicA, NatMapping.EndpointIndependent);

        add.Should().Throw<ArgumentException>();
    }
}
