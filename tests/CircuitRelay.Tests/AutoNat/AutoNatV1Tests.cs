using System.Net;
using CircuitRelay.Abstractions;
using CircuitRelay.Adverts;
using CircuitRelay.AutoNat;
using CircuitRelay.Multiformats;
using CircuitRelay.Tests.Infrastructure;
using CircuitRelay.Tests.Relay;
using Google.Protobuf;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Pb = CircuitRelay.AutoNat.Pb;

namespace CircuitRelay.Tests.AutoNat;

/// <summary>AutoNAT v1 client and server on reference hosts over the memory transport (public nodes and nodes behind a NAT), on the manual clock.</summary>
public sealed class AutoNatV1Tests : IAsyncLifetime
{
    private readonly RelayFixture _fixture = RelayFixture.Create();

    [Fact]
    public async Task Probe_PublicNode_OkWithTheAddressItWasReachedAt()
    {
        Server();
        TestNode node = _fixture.CreatePublicNode("192.0.2.10");
        await node.Host.DialAsync(_fixture.RelayAddress).Within();

        AutoNatProbeResult result = await new AutoNatClient(node.Host, _fixture.Time).ProbeAsync(_fixture.RelayId).Within();

        result.Status.Should().Be(AutoNatStatus.Ok);
        result.Address.Should().Be(Multiaddr.Parse("/ip4/192.0.2.10/tcp/4001"));
    }

    [Fact]
    public async Task Probe_AddressesOnAnotherIp_AreDialedOnTheObservedIpOnly()
    {
        Server();
        TestNode node = _fixture.CreatePublicNode("192.0.2.10");
        TestNode victim = _fixture.CreatePublicNode("192.0.2.99");
        await node.Host.DialAsync(_fixture.RelayAddress).Within();

        AutoNatProbeResult result = await new AutoNatClient(node.Host, _fixture.Time)
            .ProbeAsync(_fixture.RelayId, [Multiaddr.Parse("/ip4/192.0.2.99/tcp/4001")]).Within();

        result.Status.Should().Be(AutoNatStatus.Ok, "port 4001 is tried on the requester's own IP");
        result.Address.Should().Be(Multiaddr.Parse("/ip4/192.0.2.10/tcp/4001"));
        victim.Host.GetConnections(_fixture.RelayId).Should().BeEmpty("the server never dials an address off the requester's IP");
    }

    [Fact]
    public async Task Probe_NodeBehindANat_DialErrorOnlyAfterTheWholeDialTimeout()
    {
        Server();
        TestNode node = _fixture.CreateNode("203.0.113.5");
        await node.Host.DialAsync(_fixture.RelayAddress).Within();
        DateTimeOffset asked = _fixture.Time.GetUtcNow();

        Task<AutoNatProbeResult> probe = new AutoNatClient(node.Host, _fixture.Time)
            .ProbeAsync(_fixture.RelayId, [Multiaddr.Parse("/ip4/10.0.0.2/tcp/4001")]);
        await ListenerTests.WaitUntilAsync(() => _fixture.Logs.Events(601).Count == 2); // both dial-backs failed
        probe.IsCompleted.Should().BeFalse("the answer waits for the dial timeout");
        _fixture.Time.Advance(TimeSpan.FromSeconds(15));

        AutoNatProbeResult result = await probe.Within();
        result.Status.Should().Be(AutoNatStatus.DialError);
        (_fixture.Time.GetUtcNow() - asked).Should().BeGreaterThanOrEqualTo(TimeSpan.FromSeconds(15), "a failure is answered only once the dial timeout has passed");
    }

    [Fact]
    public async Task Request_PeerIdOfAnotherPeer_BadRequest()
    {
        Server();
        TestNode node = _fixture.CreatePublicNode("192.0.2.10");
        await node.Host.DialAsync(_fixture.RelayAddress).Within();
        await using ILibp2pStream stream = await node.Host.OpenStreamAsync(_fixture.RelayId, AutoNatServer.ProtocolId).Within();
        var request = new Pb.Message
        {
            Type = Pb.Message.Types.MessageType.Dial,
            Dial = new Pb.Message.Types.Dial { Peer = new Pb.Message.Types.PeerInfo { Id = ByteString.CopyFrom(_fixture.CreateNode().Id.ToByteArray()) } },
        };

        await LengthPrefixed.WriteAsync(stream.Output, request.ToByteArray()).AsTask().Within();
        Pb.Message answer = Pb.Message.Parser.ParseFrom(await LengthPrefixed.ReadAsync(stream.Input, 4096).AsTask().Within());

        answer.DialResponse.Status.Should().Be(Pb.Message.Types.ResponseStatus.EBadRequest);
        answer.DialResponse.StatusText.Should().Contain("peer id mismatch");
    }

    [Fact]
    public async Task Probe_OverThePerPeerRate_DialRefused()
    {
        AutoNatServer server = Server(o => o.MaxRequestsPerPeer = 1);
        TestNode node = _fixture.CreatePublicNode("192.0.2.10");
        await node.Host.DialAsync(_fixture.RelayAddress).Within();
        var client = new AutoNatClient(node.Host, _fixture.Time);
        (await client.ProbeAsync(_fixture.RelayId).Within()).Status.Should().Be(AutoNatStatus.Ok);

        AutoNatProbeResult second = await client.ProbeAsync(_fixture.RelayId).Within();

        second.Status.Should().Be(AutoNatStatus.DialRefused);
        second.StatusText.Should().Contain("too many dials");
        server.RequestsRefused.Should().Be(1);
        server.RequestsServed.Should().Be(1);
    }

    [Fact]
    public async Task Probe_RequesterAtAPrivateAddress_RefusedUnlessAllowed()
    {
        AutoNatServer server = Server();
        TestNode lan = _fixture.CreatePublicNode("10.1.2.3");
        await lan.Host.DialAsync(_fixture.RelayAddress).Within();

        AutoNatProbeResult result = await new AutoNatClient(lan.Host, _fixture.Time).ProbeAsync(_fixture.RelayId).Within();

        result.Status.Should().Be(AutoNatStatus.DialRefused);
        server.RequestsRefused.Should().Be(1);
    }

    [Fact]
    public async Task Service_ThreeServersOnDistinctNetworks_NodeBecomesPublicAndServersAreNotAskedAgainWithinTheCooldown()
    {
        TestNode[] servers = [ServerNode("192.0.2.1"), ServerNode("198.51.100.50"), ServerNode("203.0.113.60")];
        TestNode node = _fixture.CreatePublicNode("192.0.2.10");
        foreach (TestNode server in servers)
        {
            await RelayFixture.DialAndIdentifyAsync(node, server, AutoNatServer.ProtocolId);
        }

        await using var service = new AutoNatService(node.Host, new AutoNatServiceOptions { RngSeed = 3 }, _fixture.Logs.Factory, _fixture.Meters, _fixture.Time);
        var changes = new List<NodeRole>();
        service.ReachabilityChanged += (_, role) => changes.Add(role);
        using MetricCollector<long> probes = _fixture.Meters.Collect<long>("CircuitRelay", "libp2p.autonat.probes");
        using MetricCollector<long> served = _fixture.Meters.Collect<long>("CircuitRelay", "libp2p.autonat.server.requests");
        using MetricCollector<int> reachability = _fixture.Meters.Collect<int>("CircuitRelay", "libp2p.autonat.reachability");

        for (int i = 0; i < 3; i++)
        {
            (await service.ProbeOnceAsync().Within())!.Status.Should().Be(AutoNatStatus.Ok);
        }

        service.Role.Should().Be(NodeRole.Public);
        changes.Should().Equal(NodeRole.Public);
        probes.GetMeasurementSnapshot().Select(m => (string?)m.Tags["status"]).Should().Equal("ok", "ok", "ok");
        served.GetMeasurementSnapshot().Should().HaveCount(3).And.OnlyContain(m => (string?)m.Tags["status"] == "ok");
        reachability.RecordObservableInstruments();
        reachability.LastMeasurement!.Value.Should().Be((int)NodeRole.Public);
        (await service.ProbeOnceAsync().Within()).Should().BeNull("every server was asked within the cooldown");
        service.ProbesSent.Should().Be(3);
    }

    [Fact]
    public async Task Service_StartedThenDisposed_StopsItsLoop()
    {
        var service = new AutoNatService(_fixture.CreateNode().Host, new AutoNatServiceOptions { BootDelay = TimeSpan.Zero }, _fixture.Logs.Factory, _fixture.Meters, _fixture.Time);
        service.Start();
        await ListenerTests.WaitUntilAsync(() => _fixture.Time.TimersCreated > 0);

        // A loop that went on after the stop (it did: nothing to probe, a cancelled wait, again) never ends its task.
        await service.DisposeAsync().AsTask().Within();
    }

    [Fact]
    public async Task Service_ForcedRole_OverridesAndNeverProbes()
    {
        await using var service = new AutoNatService(_fixture.CreateNode().Host, new AutoNatServiceOptions { ForcedRole = NodeRole.Private }, _fixture.Logs.Factory, _fixture.Meters, _fixture.Time);

        service.Start();

        service.Role.Should().Be(NodeRole.Private);
        service.ProbesSent.Should().Be(0);
    }

    [Fact]
    public void Tracker_ThreeAgreeingResultsFromDistinctNetworks_TurnsPublic()
    {
        var tracker = new ReachabilityTracker(_fixture.Logs.Factory);
        var changes = new List<NodeRole>();
        tracker.ReachabilityChanged += (_, role) => changes.Add(role);

        tracker.Record(IPAddress.Parse("192.0.2.1"), AutoNatStatus.Ok).Should().BeFalse();
        tracker.Record(IPAddress.Parse("192.0.2.2"), AutoNatStatus.Ok).Should().BeFalse("the same /24 counts once");
        tracker.Record(IPAddress.Parse("198.51.100.1"), AutoNatStatus.Ok).Should().BeFalse();
        tracker.Record(IPAddress.Parse("203.0.113.1"), AutoNatStatus.Ok).Should().BeTrue();

        tracker.State.Should().Be(NodeRole.Public);
        changes.Should().Equal(NodeRole.Public);
        _fixture.Logs.Events(602).Should().ContainSingle().Which.Message.Should().Contain("distinct networks");
    }

    [Fact]
    public void Tracker_AlternatingResults_NeverFlip()
    {
        var tracker = new ReachabilityTracker(_fixture.Logs.Factory);
        string[] networks = ["192.0.2.1", "198.51.100.1", "203.0.113.1"];
        for (int i = 0; i < 40; i++)
        {
            tracker.Record(IPAddress.Parse(networks[i % 3]), i % 2 == 0 ? AutoNatStatus.Ok : AutoNatStatus.DialError);
        }

        tracker.State.Should().Be(NodeRole.Unknown);
    }

    [Fact]
    public void Tracker_PublicThenThreePrivateFromDistinctNetworks_TurnsPrivateAndRefusalsCarryNoSignal()
    {
        var tracker = new ReachabilityTracker(_fixture.Logs.Factory, confidence: 2);
        tracker.Record(IPAddress.Parse("192.0.2.1"), AutoNatStatus.Ok);
        tracker.Record(IPAddress.Parse("198.51.100.1"), AutoNatStatus.Ok);
        tracker.State.Should().Be(NodeRole.Public);

        tracker.Record(IPAddress.Parse("203.0.113.1"), AutoNatStatus.DialError);
        tracker.Record(IPAddress.Parse("192.0.2.9"), AutoNatStatus.DialRefused).Should().BeFalse("a refusal is no signal");
        tracker.State.Should().Be(NodeRole.Public);
        tracker.Record(IPAddress.Parse("198.51.100.9"), AutoNatStatus.DialError).Should().BeTrue();

        tracker.State.Should().Be(NodeRole.Private);
    }

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        // The fixture disposes what the test gave it (bounded, in reverse) before the relay and the hosts.
        await _fixture.DisposeAsync();
    }


    private TestNode ServerNode(string ip)
    {
        TestNode node = _fixture.CreatePublicNode(ip);
        var server = new AutoNatServer(node.Host, new AutoNatServerOptions { RngSeed = 1 }, _fixture.Logs.Factory, _fixture.Meters, _fixture.Time);
        server.Start();
        _fixture.Own(server);
        return node;
    }

    private AutoNatServer Server(Action<AutoNatServerOptions>? configure = null)
    {
        var options = new AutoNatServerOptions { RngSeed = 1 };
        configure?.Invoke(options);
        var server = new AutoNatServer(_fixture.RelayHost, options, _fixture.Logs.Factory, _fixture.Meters, _fixture.Time);
        server.Start();
        _fixture.Own(server);
        return server;
    }
}
