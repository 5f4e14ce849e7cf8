using CircuitRelay.Abstractions;
using CircuitRelay.ReferenceHost.Tests.TestSupport;
using CircuitRelay.ReferenceHost.Yamux;
using CircuitRelay.Transport;

namespace CircuitRelay.ReferenceHost.Tests.Host;

public sealed class FeaturesDialListenTests : IAsyncLifetime
{
    private readonly HostTestKit _kit = new();

    [Fact]
    public async Task GetFeature_EveryFeature_IsTheHost()
    {
        ILibp2pHost host = await _kit.StartAsync(listen: false);

        host.GetFeature<IDialFeature>().Should().BeSameAs(host);
        host.GetFeature<IListenFeature>().Should().BeSameAs(host);
        host.GetFeature<IAddressesFeature>().Should().BeSameAs(host);
        host.GetFeature<IPeerStoreFeature>().Should().BeSameAs(host);
        host.GetFeature<IInboundGateFeature>().Should().BeSameAs(host);
        host.GetFeature<IConnectionsFeature>().Should().BeSameAs(host);
        host.GetFeature<IPingFeature>().Should().BeSameAs(host);
    }

    [Fact]
    public async Task DialAsync_AllowUnknownPeer_LearnsThePeerFromTheHandshake()
    {
        Libp2pHost a = await _kit.StartAsync();
        Libp2pHost b = await _kit.StartAsync();

        ConnectionInfo probed = await a.DialAsync(b.ListenAddresses[0], new DialOptions { AllowUnknownPeer = true }).Within();

        probed.RemotePeer.Should().Be(b.Identity.PeerId);
        a.GetConnections(b.Identity.PeerId).Should().ContainSingle().Which.Id.Should().Be(probed.Id);
    }

    [Fact]
    public async Task DialAsync_AllowUnknownPeerToOwnAddress_ThrowsIOExceptionAndKeepsNoConnection()
    {
        Libp2pHost a = await _kit.StartAsync();

        Func<Task> act = () => a.DialAsync(a.ListenAddresses[0], new DialOptions { AllowUnknownPeer = true }).AsTask();

        await act.Should().ThrowAsync<IOException>().WithMessage("*this host itself*");
        // The accepting half of the self-connection sees the other half close and goes too.
        using var bound = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while (a.GetConnections(a.Identity.PeerId).Count > 0)
        {
            await Task.Yield();
            bound.Token.ThrowIfCancellationRequested();
        }
    }

    [Fact]
    public async Task DialAsync_ExistingConnection_ReturnsIt()
    {
        Libp2pHost a = await _kit.StartAsync();
        Libp2pHost b = await _kit.StartAsync();
        IDialFeature dial = a;
        ConnectionInfo first = await dial.DialAsync(HostTestKit.AddressOf(b)).Within();

        ConnectionInfo second = await dial.DialAsync(HostTestKit.AddressOf(b)).Within();

        second.Should().BeSameAs(first);
        a.GetConnections(b.Identity.PeerId).Should().ContainSingle();
    }

    [Fact]
    public async Task DialAsync_ForceNewConnection_OpensASecondConnection()
    {
        Libp2pHost a = await _kit.StartAsync();
        Libp2pHost b = await _kit.StartAsync();
        IDialFeature dial = a;
        ConnectionInfo first = await dial.DialAsync(HostTestKit.AddressOf(b)).Within();

        ConnectionInfo second = await dial.DialAsync(HostTestKit.AddressOf(b), new DialOptions { ForceNewConnection = true }).Within();

        second.Id.Should().NotBe(first.Id);
        a.GetConnections(b.Identity.PeerId).Should().HaveCount(2);
    }

    [Fact]
    public async Task DialAsync_NoPeerIdInTheAddress_ThrowsArgumentException()
    {
        Libp2pHost a = await _kit.StartAsync();
        Libp2pHost b = await _kit.StartAsync();

        Func<Task> act = () => a.DialAsync(b.ListenAddresses[0]).AsTask();

        await act.Should().ThrowAsync<ArgumentException>();
    }

    [Fact]
    public async Task DialAsync_RoleResponderOverASimultaneousOpen_DialedSideInitiatesAndStreamsWork()
    {
        var network = new PipeNetwork();
        Libp2pHost a = await _kit.StartAsync(listen: false, o => o.Transports.Add(new PipeTransport(network, simultaneousOpen: true)));
        Libp2pHost b = await _kit.StartAsync(listen: false, o => o.Transports.Add(new PipeTransport(network, simultaneousOpen: true)));
        await b.ListenAsync(PipeTransport.Address("b")).Within();

        ConnectionInfo atA = await a.DialAsync(PipeTransport.Address("b").WithPeerId(b.Identity.PeerId), new DialOptions { Role = UpgradeRole.Responder }).Within();

        atA.RemotePeer.Should().Be(b.Identity.PeerId);
        ILibp2pStream stream = await a.OpenStreamAsync(b.Identity.PeerId, HostTestKit.Echo).Within();
        ((YamuxLibp2pStream)stream).Stream.Id.Should().Match(id => id % 2 == 0, "the Yamux server (the responder) opens even stream ids");
        (await HostTestKit.EchoOverAsync(stream, 64 * 1024).Within()).Should().BeTrue();
        b.GetConnections(a.Identity.PeerId).Should().ContainSingle().Which.Direction.Should().Be(ConnectionDirection.Outbound, "in a simultaneous open both sides dialed");
    }

    [Fact]
    public async Task ListenAsync_TcpAtRunTime_AcceptsAndUpgradesConnections()
    {
        Libp2pHost a = await _kit.StartAsync(listen: false);
        Libp2pHost b = await _kit.StartAsync(listen: false);
        b.ListenAddresses.Should().BeEmpty();

        ITransportListener listener = await ((IListenFeature)b).ListenAsync(Multiaddr.Parse("/ip4/127.0.0.1/tcp/0")).Within();

        b.ListenAddresses.Should().Equal(listener.Addresses);
        await a.DialAsync(listener.Addresses[0].WithPeerId(b.Identity.PeerId)).Within();
        (await HostTestKit.EchoRoundTripAsync(a, b.Identity.PeerId, 1024).Within()).Should().BeTrue();
    }

    [Fact]
    public async Task ListenAsync_ListenerDisposed_RemovesItsAddressesAndRaisesAddressesChanged()
    {
        Libp2pHost b = await _kit.StartAsync(listen: false);
        ITransportListener listener = await b.ListenAsync(Multiaddr.Parse("/ip4/127.0.0.1/tcp/0")).Within();
        Task removed = HostTestKit.WhenAddressesAsync(b, h => h.ListenAddresses.Count == 0);

        await listener.DisposeAsync();

        await removed.Within();
        b.Addresses.Should().BeEmpty();
    }

    [Fact]
    public async Task ListenAsync_NoTransportCanListen_ThrowsNotSupportedException()
    {
        Libp2pHost b = await _kit.StartAsync(listen: false);

        Func<Task> act = () => b.ListenAsync(Multiaddr.Parse("/ip4/127.0.0.1/udp/0")).AsTask();

        await act.Should().ThrowAsync<NotSupportedException>().WithMessage("*/ip4/127.0.0.1/udp/0*");
    }

    [Fact]
    public void Validate_ListenAddressNoTransportCanListen_ThrowsNamingTheAddress()
    {
        var options = new Libp2pHostOptions();
        options.ListenAddresses.Add("/ip4/127.0.0.1/udp/4001");

        Action act = options.Validate;

        act.Should().Throw<ArgumentException>().WithMessage("*'/ip4/127.0.0.1/udp/4001'*");
    }

    [Fact]
    public async Task ListenAsync_CircuitThroughTheRelay_DialedCircuitEchoesEndToEnd()
    {
        (Libp2pHost relayHost, _) = await _kit.StartRelayAsync();
        Libp2pHost listenerHost = await _kit.StartAsync(listen: false);
        _kit.AddCircuitTransport(listenerHost);
        Libp2pHost dialerHost = await _kit.StartAsync(listen: false);
        _kit.AddCircuitTransport(dialerHost);

        ITransportListener listener = await ((IListenFeature)listenerHost).ListenAsync(HostTestKit.AddressOf(relayHost).Encapsulate("/p2p-circuit")).Within();
        Multiaddr circuit = listener.Addresses[0].WithPeerId(listenerHost.Identity.PeerId);
        ConnectionInfo connection = await ((IDialFeature)dialerHost).DialAsync(circuit).Within();

        listener.Should().BeOfType<CircuitListener>().Which.Reservation.IsActive.Should().BeTrue();
        listenerHost.ListenAddresses.Should().Contain(listener.Addresses);
        connection.IsRelayed.Should().BeTrue();
        connection.Relay.Should().Be(relayHost.Identity.PeerId);
        connection.RemotePeer.Should().Be(listenerHost.Identity.PeerId);
        (await HostTestKit.EchoRoundTripAsync(dialerHost, listenerHost.Identity.PeerId, 256 * 1024, allowLimited: true).Within()).Should().BeTrue();
    }

    public Task InitializeAsync() => Task.CompletedTask;

    public Task DisposeAsync() => _kit.DisposeAsync().AsTask();
}
