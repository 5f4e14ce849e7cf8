using CircuitRelay.Abstractions;
using CircuitRelay.Crypto;

namespace CircuitRelay.ReferenceHost.Tests.Host;

public sealed class FeaturesAddressesTests : IAsyncLifetime
{
    private static readonly Multiaddr Public = Multiaddr.Parse("/ip4/203.0.113.7/tcp/4001");
    private readonly HostTestKit _kit = new();

    [Fact]
    public async Task AddExternalAddress_New_RaisesAddressesChangedAndJoinsAddresses()
    {
        Libp2pHost host = await _kit.StartAsync();
        int changes = 0;
        host.AddressesChanged += (_, _) => Interlocked.Increment(ref changes);

        bool added = host.AddExternalAddress(Public);

        added.Should().BeTrue();
        changes.Should().Be(1);
        host.ExternalAddresses.Should().Equal(Public);
        host.Addresses.Should().Equal(host.ListenAddresses[0], Public);
    }

    [Fact]
    public async Task AddExternalAddress_AlreadyThere_ReturnsFalseWithoutAnEvent()
    {
        Libp2pHost host = await _kit.StartAsync();
        host.AddExternalAddress(Public);
        int changes = 0;
        host.AddressesChanged += (_, _) => Interlocked.Increment(ref changes);

        bool added = host.AddExternalAddress(Public);

        added.Should().BeFalse();
        changes.Should().Be(0);
    }

    [Fact]
    public async Task RemoveExternalAddress_Present_RemovesItAndRaisesAddressesChanged()
    {
        Libp2pHost host = await _kit.StartAsync();
        host.AddExternalAddress(Public);
        int changes = 0;
        host.AddressesChanged += (_, _) => Interlocked.Increment(ref changes);

        bool removed = host.RemoveExternalAddress(Public);

        removed.Should().BeTrue();
        changes.Should().Be(1);
        host.Addresses.Should().NotContain(Public);
        host.RemoveExternalAddress(Public).Should().BeFalse();
    }

    [Fact]
    public async Task ReportObservedAddress_TwoReporters_CountsTwoAndOrdersByCount()
    {
        Libp2pHost host = await _kit.StartAsync();
        using var first = KeyIdentity.Generate();
        using var second = KeyIdentity.Generate();
        Multiaddr other = Multiaddr.Parse("/ip4/198.51.100.1/tcp/5000");
        host.ReportObservedAddress(first.PeerId, other);
        host.ReportObservedAddress(first.PeerId, Public);

        host.ReportObservedAddress(second.PeerId, Public);

        host.ObservedAddresses.Should().Equal(new ObservedAddress(Public, 2));
    }

    [Fact]
    public async Task Identify_PeerReportsWhereItSeesUs_ObservedAddressIsTheConnectionsLocalEnd()
    {
        Libp2pHost a = await _kit.StartAsync();
        Libp2pHost b = await _kit.StartAsync();
        Task observed = HostTestKit.WhenAddressesAsync(a, h => h.ObservedAddresses.Count > 0);

        ConnectionInfo connection = await a.DialAsync(HostTestKit.AddressOf(b)).Within();

        await observed.Within();
        a.ObservedAddresses.Should().Equal(new ObservedAddress(connection.LocalAddress!, 1));
    }

    [Fact]
    public async Task Identify_PeerIdentified_PeerStoreHoldsItsProtocolsAndListenAddresses()
    {
        Libp2pHost a = await _kit.StartAsync();
        Libp2pHost b = await _kit.StartAsync();
        b.SetStreamHandler("/test/b/1.0.0", (s, _) => s.DisposeAsync().AsTask());
        var identified = new TaskCompletionSource<PeerRecord>(TaskCreationOptions.RunContinuationsAsynchronously);
        ((IPeerStoreFeature)a).PeerIdentified += (_, e) =>
        {
            if (e.Record.Peer == b.Identity.PeerId)
            {
                identified.TrySetResult(e.Record);
            }
        };

        await a.DialAsync(HostTestKit.AddressOf(b)).Within();

        PeerRecord record = await identified.Task.Within();
        record.Supports("/test/b/1.0.0").Should().BeTrue();
        record.Supports(HostTestKit.Echo).Should().BeTrue();
        record.ListenAddresses.Should().Equal(b.ListenAddresses);
        record.AgentVersion.Should().StartWith("circuitrelay-dotnet/");
        a.GetPeer(b.Identity.PeerId).Should().BeSameAs(record);
    }

    [Fact]
    public async Task ConnectionClosed_LastToAnIdentifiedPeer_DropsItsRecord()
    {
        Libp2pHost a = await _kit.StartAsync();
        Libp2pHost b = await _kit.StartAsync();
        var identified = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        ((IPeerStoreFeature)a).PeerIdentified += (_, e) => identified.TrySetResult();
        ConnectionInfo connection = await a.DialAsync(HostTestKit.AddressOf(b)).Within();
        await identified.Task.Within();
        a.GetPeer(b.Identity.PeerId).Should().NotBeNull();

        await a.CloseAsync(connection).Within();

        a.GetPeer(b.Identity.PeerId).Should().BeNull("what a peer said of itself is kept while it is connected, so a flood of peers cannot grow the store");
    }

    [Fact]
    public async Task UpdatePeer_MoreThanTenThousandUnconnectedPeers_SweepsThemAndKeepsConnectedOnes()
    {
        Libp2pHost a = await _kit.StartAsync();
        Libp2pHost b = await _kit.StartAsync();
        var identified = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        ((IPeerStoreFeature)a).PeerIdentified += (_, e) => identified.TrySetResult();
        await a.DialAsync(HostTestKit.AddressOf(b)).Within();
        await identified.Task.Within();
        PeerId first = PeerIdOf(0);

        for (int i = 0; i <= 10_000; i++)
        {
            a.UpdatePeer(new PeerRecord(PeerIdOf(i), [], []));
        }

        a.GetPeer(first).Should().BeNull("records of peers without a connection are swept past 10,000");
        a.GetPeer(b.Identity.PeerId).Should().NotBeNull("a connected peer's record stays");

        // Distinct identity-multihash peer ids without generating 10,000 keys.
        static PeerId PeerIdOf(int i) => PeerId.FromBytes([0x00, 0x24, 0x08, 0x01, 0x12, 0x20, .. new byte[28], .. BitConverter.GetBytes(i)]);
    }

    [Fact]
    public async Task UpdatePeer_NewRecord_ReplacesTheOldAndRaisesPeerIdentified()
    {
        Libp2pHost host = await _kit.StartAsync(listen: false);
        using var peer = KeyIdentity.Generate();
        host.UpdatePeer(new PeerRecord(peer.PeerId, ["/a/1.0.0"], []));
        PeerRecord? raised = null;
        host.PeerIdentified += (_, e) => raised = e.Record;
        var newer = new PeerRecord(peer.PeerId, ["/b/1.0.0"], [Public]);

        host.UpdatePeer(newer);

        raised.Should().BeSameAs(newer);
        host.GetPeer(peer.PeerId).Should().BeSameAs(newer);
    }

    [Fact]
    public async Task ListenAsync_AtRunTime_IdentifyPushesTheNewAddressToConnectedPeers()
    {
        Libp2pHost a = await _kit.StartAsync();
        Libp2pHost b = await _kit.StartAsync();
        var identified = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        ((IPeerStoreFeature)a).PeerIdentified += (_, e) => identified.TrySetResult();
        await a.DialAsync(HostTestKit.AddressOf(b)).Within();
        await identified.Task.Within();
        var pushed = new TaskCompletionSource<PeerRecord>(TaskCreationOptions.RunContinuationsAsynchronously);
        ((IPeerStoreFeature)a).PeerIdentified += (_, e) =>
        {
            if (e.Record.Peer == b.Identity.PeerId && e.Record.ListenAddresses.Count == 2)
            {
                pushed.TrySetResult(e.Record);
            }
        };

        ITransportListener second = await b.ListenAsync(Multiaddr.Parse("/ip4/127.0.0.1/tcp/0")).Within();

        (await pushed.Task.Within()).ListenAddresses.Should().Contain(second.Addresses[0]);
    }

    public Task InitializeAsync() => Task.CompletedTask;

    public Task DisposeAsync() => _kit.DisposeAsync().AsTask();
}
