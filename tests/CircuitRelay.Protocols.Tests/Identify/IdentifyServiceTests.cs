using CircuitRelay.Multiformats;
using CircuitRelay.Abstractions;
using CircuitRelay.Protocols.Identify;
using CircuitRelay.ReferenceHost.Tests.TestSupport;
using Microsoft.Extensions.Logging.Abstractions;
using IdentifyMessage = CircuitRelay.Protocols.Identify.Pb.Identify;

namespace CircuitRelay.Protocols.Tests.Identify;

public sealed class IdentifyServiceTests : IAsyncLifetime
{
    private static readonly string[] ProtocolsOfA = ["/ipfs/id/1.0.0", "/ipfs/ping/1.0.0", "/test/a/1.0.0"];
    private static readonly string[] ProtocolsOfB = ["/ipfs/id/1.0.0", "/libp2p/circuit/relay/0.2.0/stop"];

    private readonly ServiceTestNetwork _net = new();
    private Libp2pHost _a = null!;
    private Libp2pHost _b = null!;
    private IdentifyService _idA = null!;
    private IdentifyService _idB = null!;

    public Task InitializeAsync()
    {
        _a = _net.CreateHost("10.0.0.1");
        _b = _net.CreateHost("10.0.0.2");
        _idA = StartService(_a, ProtocolsOfA, "host-a/1.0");
        _idB = StartService(_b, ProtocolsOfB, "host-b/2.0");
        return Task.CompletedTask;
    }

    public async Task DisposeAsync() => await _net.DisposeAsync();

    [Fact]
    public async Task IdentifyAsync_DialerIdentifiesListener_ReturnsListenersKeyProtocolsAddressesAndVersions()
    {
        await ServiceTestNetwork.ConnectAsync(_a, _b).Within();

        IdentifyInfo info = await _idA.IdentifyAsync(_b.PeerId).Within();

        info.PublicKey.Should().Be(_b.Identity.PublicKey);
        info.Protocols.Should().Equal(ProtocolsOfB);
        info.ListenAddresses.Should().Equal(_b.ListenAddress);
        info.AgentVersion.Should().Be("host-b/2.0");
        info.ProtocolVersion.Should().Be("ipfs/0.1.0");
    }

    [Fact]
    public async Task IdentifyAsync_ListenerIdentifiesDialer_ReturnsDialersKeyProtocolsAddressesAndAgent()
    {
        await ServiceTestNetwork.ConnectAsync(_a, _b).Within();

        IdentifyInfo info = await _idB.IdentifyAsync(_a.PeerId).Within();

        info.PublicKey.Should().Be(_a.Identity.PublicKey);
        info.Protocols.Should().Equal(ProtocolsOfA);
        info.ListenAddresses.Should().Equal(_a.ListenAddress);
        info.AgentVersion.Should().Be("host-a/1.0");
    }

    [Fact]
    public async Task IdentifyAsync_DialerIdentifiesListener_ObservedAddressIsDialersAddressAsSeenByListener()
    {
        ConnectionInfo atA = await ServiceTestNetwork.ConnectAsync(_a, _b).Within();

        IdentifyInfo info = await _idA.IdentifyAsync(_b.PeerId).Within();

        info.ObservedAddress.Should().Be(_b.GetConnections(_a.PeerId).Single().RemoteAddress);
        info.ObservedAddress.Should().Be(atA.LocalAddress);
    }

    [Fact]
    public async Task IdentifyAsync_ListenerIdentifiesDialer_ObservedAddressIsListenersListenAddress()
    {
        await ServiceTestNetwork.ConnectAsync(_a, _b).Within();

        IdentifyInfo info = await _idB.IdentifyAsync(_a.PeerId).Within();

        info.ObservedAddress.Should().Be(_b.ListenAddress);
    }

    [Fact]
    public async Task IdentifyAsync_DirectConnection_ReportsObservedAddressToTheHost()
    {
        ConnectionInfo atA = await ServiceTestNetwork.ConnectAsync(_a, _b).Within();

        await _idA.IdentifyAsync(_b.PeerId).Within();

        _a.ObservedAddresses.Should().Equal(new ObservedAddress(atA.LocalAddress!, 1));
    }

    [Fact]
    public async Task IdentifyAsync_ManyPeers_ReportsEachPeersObservationOnce()
    {
        var observed = new List<ObservedAddress>();
        for (int i = 0; i < 9; i++)
        {
            Libp2pHost peer = _net.CreateHost();
            StartService(peer, ProtocolsOfB, "peer/1.0");
            ConnectionInfo atA = await ServiceTestNetwork.ConnectAsync(_a, peer).Within();
            await _idA.IdentifyAsync(peer.PeerId).Within();
            await _idA.IdentifyAsync(peer.PeerId).Within();
            observed.Add(new ObservedAddress(atA.LocalAddress!, 1));
        }

        _a.ObservedAddresses.Should().BeEquivalentTo(observed, "one report per reporter counts, however often it identifies");
    }

    [Fact]
    public async Task IdentifyAsync_Success_StoresPeerAndRaisesIdentified()
    {
        ConnectionInfo atA = await ServiceTestNetwork.ConnectAsync(_a, _b).Within();
        var raised = new TaskCompletionSource<IdentifiedEventArgs>(TaskCreationOptions.RunContinuationsAsynchronously);
        _idA.Identified += (_, e) => raised.TrySetResult(e);

        IdentifyInfo info = await _idA.IdentifyAsync(_b.PeerId).Within();

        _idA.Peers.Should().ContainKey(_b.PeerId).WhoseValue.Should().BeSameAs(info);
        IdentifiedEventArgs args = await raised.Task.Within();
        args.Peer.Should().Be(_b.PeerId);
        args.Info.Should().BeSameAs(info);
        args.Connection.Should().BeSameAs(atA);
    }

    [Fact]
    public async Task IdentifyAsync_NoConnection_ThrowsIOException()
    {
        Func<Task> identify = () => _idA.IdentifyAsync(_b.PeerId).Within();

        await identify.Should().ThrowAsync<IOException>();
        _b.GetConnections(_a.PeerId).Should().BeEmpty("identify never dials");
    }

    [Fact]
    public async Task IdentifyAsync_LimitedConnection_ReturnsRemoteInfo()
    {
        RelayedConnection relayed = await _net.ConnectRelayedAsync(_a, _b);
        relayed.AtDialer.IsLimited.Should().BeTrue();

        IdentifyInfo info = await _idA.IdentifyAsync(_b.PeerId).Within();

        info.PublicKey.Should().Be(_b.Identity.PublicKey);
        info.Protocols.Should().Equal(ProtocolsOfB);
        info.ObservedAddress.Should().Be(_b.GetConnections(_a.PeerId).Single().RemoteAddress);
    }

    [Fact]
    public async Task IdentifyAsync_LimitedConnection_DoesNotAddObservedAddress()
    {
        await _net.ConnectRelayedAsync(_a, _b);

        IdentifyInfo info = await _idA.IdentifyAsync(_b.PeerId).Within();

        info.ObservedAddress.Should().NotBeNull();
        _a.ObservedAddresses.Select(o => o.Address).Should().NotContain(info.ObservedAddress!, "what a peer saw over a relayed connection is not our address");
    }

    [Fact]
    public async Task QueryHandler_CircuitAddress_IsAdvertisedAfterTheDirectOnes()
    {
        var circuit = Multiaddr.Parse($"/ip4/10.250.0.1/tcp/4001/p2p/{_a.PeerId}/p2p-circuit");
        _b.AddExternalAddress(circuit);
        await ServiceTestNetwork.ConnectAsync(_a, _b).Within();

        IdentifyInfo info = await _idA.IdentifyAsync(_b.PeerId).Within();

        info.ListenAddresses.Should().Equal(_b.ListenAddress, circuit);
    }

    [Fact]
    public async Task QueryHandler_ManyListenAddresses_TrimsMessageTo4KiB()
    {
        for (int port = 1; port <= 400; port++)
        {
            _b.AddExternalAddress(Multiaddr.Parse($"/ip4/10.0.0.2/tcp/{port}"));
        }

        await ServiceTestNetwork.ConnectAsync(_a, _b).Within();
        await using ILibp2pStream stream = await _a.OpenStreamAsync(_b.PeerId, IdentifyService.ProtocolId).Within();

        byte[]? body = await LengthPrefixed.ReadAsync(stream.Input, 8192).Within();

        body.Should().NotBeNull();
        body!.Length.Should().BeLessThanOrEqualTo(4096);
        var message = IdentifyMessage.Parser.ParseFrom(body);
        message.ListenAddrs.Count.Should().BeInRange(1, 400);
        message.Protocols.Should().Equal(ProtocolsOfB);
        (await LengthPrefixed.ReadAsync(stream.Input, 8192).Within()).Should().BeNull("the handler closes after one message");
    }

    [Fact]
    public async Task ConnectionClosed_LastConnectionToPeer_ForgetsPeer()
    {
        await ServiceTestNetwork.ConnectAsync(_a, _b).Within();
        await _idA.IdentifyAsync(_b.PeerId).Within();
        _idA.Peers.Should().ContainKey(_b.PeerId);

        await _a.DisconnectAsync(_b.PeerId).Within();

        _idA.Peers.Should().NotContainKey(_b.PeerId);
    }

    [Fact]
    public async Task ConnectionClosed_AnotherConnectionRemains_KeepsPeer()
    {
        await ServiceTestNetwork.ConnectAsync(_a, _b).Within();
        RelayedConnection relayed = await _net.ConnectRelayedAsync(_a, _b);
        await _idA.IdentifyAsync(_b.PeerId).Within();
        var closed = new TaskCompletionSource<ConnectionInfo>(TaskCreationOptions.RunContinuationsAsynchronously);
        _a.ConnectionClosed += (_, e) => closed.TrySetResult(e.Connection);

        await relayed.Sever();

        (await closed.Task.Within()).Should().BeSameAs(relayed.AtDialer);
        _idA.Peers.Should().ContainKey(_b.PeerId);
    }

    [Fact]
    public async Task ConnectionClosed_OnlyConnectionSevered_ForgetsPeer()
    {
        RelayedConnection relayed = await _net.ConnectRelayedAsync(_a, _b);
        await _idA.IdentifyAsync(_b.PeerId).Within();
        var closed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _a.ConnectionClosed += (_, _) => closed.TrySetResult();

        await relayed.Sever();

        await closed.Task.Within();
        _idA.Peers.Should().NotContainKey(_b.PeerId);
    }

    [Fact]
    public void Start_Twice_ThrowsInvalidOperationException()
    {
        Action start = _idA.Start;

        start.Should().Throw<InvalidOperationException>();
    }

    [Fact]
    public async Task DisposeAsync_StartedService_RemovesHandlers()
    {
        await ServiceTestNetwork.ConnectAsync(_a, _b).Within();

        await _idB.DisposeAsync();

        Func<Task> identify = () => _idA.IdentifyAsync(_b.PeerId).Within();
        await identify.Should().ThrowAsync<IOException>();
    }

    [Fact]
    public async Task IdentifyAsync_AfterDispose_ThrowsObjectDisposedException()
    {
        await _idA.DisposeAsync();

        Func<Task> identify = () => _idA.IdentifyAsync(_b.PeerId);

        await identify.Should().ThrowAsync<ObjectDisposedException>();
    }

    private IdentifyService StartService(Libp2pHost host, string[] protocols, string agent, TimeProvider? time = null)
    {
        IdentifyService service = _net.Track(new IdentifyService(host, () => protocols, agent, NullLogger.Instance, time ?? TimeProvider.System));
        service.Start();
        return service;
    }
}
