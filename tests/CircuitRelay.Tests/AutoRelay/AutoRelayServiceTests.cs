using System.Threading.Channels;
using CircuitRelay.Abstractions;
using CircuitRelay.AutoRelay;
using CircuitRelay.Server;
using CircuitRelay.Tests.Infrastructure;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;

namespace CircuitRelay.Tests.AutoRelay;

/// <summary>The AutoRelay worker on reference hosts over the memory transport: relays on networks of their own, a node behind a NAT.</summary>
public sealed class AutoRelayServiceTests : IAsyncLifetime
{
    private readonly RelayFixture _fixture = RelayFixture.Create();
    private readonly RelayAddressBook _book;
    private readonly RelayPool _pool;
    private readonly TestNode _node;
    private readonly Dictionary<PeerId, RelayServer> _servers = [];

    public AutoRelayServiceTests()
    {
        _book = new RelayAddressBook(new RelayAddressBookOptions(), _fixture.Time);
        _pool = new RelayPool(_book, new RelayPoolOptions { RngSeed = 1 }, _fixture.Time);
        _node = _fixture.CreateNode("203.0.113.200");
    }

    [Fact]
    public async Task RunCycleAsync_ConfiguredCandidates_HoldsTheDesiredCountOnDiverseRelaysAndIsReachable()
    {
        TestNode r1 = Relay("192.0.2.1"), r2 = Relay("192.0.2.2"), r3 = Relay("203.0.113.1");
        AutoRelayService worker = Worker();

        int held = await worker.RunCycleAsync().Within();

        held.Should().Be(2);
        worker.Relays.Should().HaveCount(2).And.Contain(r3.Id, "the two 192.0.2.x relays share a /24: one of them at most");
        worker.Relays.Should().ContainSingle(r => r == r1.Id || r == r2.Id);
        Multiaddr circuit = worker.RelayedAddresses[0].WithPeerId(_node.Id);
        ConnectionInfo relayed = await _fixture.CreateNode().Host.DialAsync(circuit).Within();
        relayed.IsRelayed.Should().BeTrue();
        relayed.RemotePeer.Should().Be(_node.Id);
    }

    [Fact]
    public async Task RunCycleAsync_OneRefusalOneSuccess_CountsBothAndTheHeldGauge()
    {
        Relay("192.0.2.1", o => o.AllowReservation = (_, _) => false);
        Relay("198.51.100.250");
        using MetricCollector<long> reservations = _fixture.Meters.Collect<long>("CircuitRelay", "libp2p.autorelay.reservations");
        using MetricCollector<int> held = _fixture.Meters.Collect<int>("CircuitRelay", "libp2p.autorelay.reservations.held");
        AutoRelayService worker = Worker(desired: 2);

        await worker.RunCycleAsync().Within();
        held.RecordObservableInstruments();

        reservations.GetMeasurementSnapshot().Select(m => (string?)m.Tags["outcome"]).Should().BeEquivalentTo(["opened", "failed"]);
        held.LastMeasurement!.Value.Should().Be(1);
    }

    [Fact]
    public async Task Start_HeldRelayDies_ReplacesItFromThePoolAtOnce()
    {
        TestNode r1 = Relay("192.0.2.1"), r2 = Relay("198.51.100.250");
        AutoRelayService worker = Worker(desired: 1);
        await worker.RunCycleAsync().Within();
        PeerId first = worker.Relays.Single();
        TestNode dead = first == r1.Id ? r1 : r2, spare = first == r1.Id ? r2 : r1;
        var replaced = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        worker.ReservationsChanged += (_, _) =>
        {
            if (worker.Relays.Contains(spare.Id))
            {
                replaced.TrySetResult();
            }
        };
        worker.Start();

        dead.Network.AbortAll();

        await replaced.Task.Within();
        worker.Relays.Should().Equal(spare.Id);
        _pool.GetBackoffUntil(dead.Id).Should().NotBeNull("the lost relay backs off");
    }

    [Fact]
    public async Task RunCycleAsync_CandidateRefuses_BacksItOffAndUsesAnother()
    {
        TestNode refusing = Relay("192.0.2.1", o => o.AllowReservation = (_, _) => false), willing = Relay("198.51.100.250");
        AutoRelayService worker = Worker(desired: 2);

        int held = await worker.RunCycleAsync().Within();

        held.Should().Be(1);
        worker.Relays.Should().Equal(willing.Id);
        _pool.GetBackoffUntil(refusing.Id).Should().NotBeNull();
        _book.Get(refusing.Id)!.ReservationFailures.Should().Be(1);
    }

    [Fact]
    public async Task PeerIdentified_ConnectedRelay_JoinsTheBookFromIdentify()
    {
        TestNode relay = Relay("192.0.2.1");
        _ = Worker(start: true);
        var identified = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _node.Host.PeerIdentified += (_, e) =>
        {
            if (e.Record.Peer == relay.Id)
            {
                identified.TrySetResult();
            }
        };

        await _node.Host.DialAsync(relay.Address).Within();
        await identified.Task.Within();

        _book.Get(relay.Id)!.Sources.Should().Contain(new RelaySource(RelaySourceKind.Identify));
    }

    [Fact]
    public async Task RunCycleAsync_StaticRelay_IsHeldApartFromTheDesiredAutomaticOnes()
    {
        TestNode auto = Relay("192.0.2.1");
        TestNode fixedRelay = Relay("203.0.113.1", configured: false);
        AutoRelayService worker = Worker(desired: 1, staticRelays: [fixedRelay.Address]);

        int automatic = await worker.RunCycleAsync().Within();

        automatic.Should().Be(1);
        worker.Relays.Should().BeEquivalentTo([auto.Id, fixedRelay.Id]);
        _book.Get(fixedRelay.Id)!.IsConfigured.Should().BeTrue("a static relay is a configured one too");
    }

    [Fact]
    public async Task NextCycleDelay_StaticRelayRefusedThenBack_NextCycleWhenItsBackoffEndsAndItIsHeldAgain()
    {
        TestNode fixedRelay = Relay("203.0.113.1", o => o.AllowReservation = (_, _) => false, configured: false);
        AutoRelayService worker = Worker(desired: 1, staticRelays: [fixedRelay.Address]);
        await worker.RunCycleAsync().Within();
        worker.Relays.Should().BeEmpty();

        TimeSpan delay = worker.NextCycleDelay(held: 0);

        delay.Should().BeLessThanOrEqualTo(TimeSpan.FromSeconds(1.25), "a lost relay is retried when its first backoff (1 s, jittered) ends, not at the next 30 s cycle");
        RelayServer server = _servers[fixedRelay.Id];
        server.UpdateOptions(new RelayServerOptions());
        _fixture.Time.Advance(delay);
        await worker.RunCycleAsync().Within();
        worker.Relays.Should().Equal(fixedRelay.Id);
        worker.NextCycleDelay(held: 1).Should().Be(new AutoRelayOptions().CycleInterval, "nothing is missing any more");
    }

    [Fact]
    public void Constructor_StaticRelayWithoutPeerId_NamesTheOption()
    {
        Func<AutoRelayService> create = () => Worker(staticRelays: [Multiaddr.Parse("/ip4/192.0.2.9/tcp/4001")]);

        create.Should().Throw<ArgumentException>().WithMessage("*StaticRelays*");
    }

    [Fact]
    public async Task RunCycleAsync_CandidateKnownOnlyByAddress_ProbesItAndReservesThere()
    {
        TestNode relay = Relay("192.0.2.1", configured: false);
        AutoRelayService worker = Worker(desired: 1, candidates: [relay.Host.ListenAddresses[0]]);
        var opened = new List<AutoRelayReservationEventArgs>();
        worker.ReservationOpened += (_, e) => opened.Add(e);

        int held = await worker.RunCycleAsync().Within();

        held.Should().Be(1);
        worker.Relays.Should().Equal(relay.Id);
        _book.Get(relay.Id)!.IsConfigured.Should().BeTrue("an operator's candidate is trusted once probed");
        opened.Should().ContainSingle().Which.CircuitAddresses.Should().Equal(worker.RelayedAddresses);
        AutoRelaySnapshot snapshot = worker.GetSnapshot();
        snapshot.Counters.ProbesSucceeded.Should().Be(1);
        snapshot.PendingProbes.Should().Be(0);
        _fixture.Logs.Collector.GetSnapshot().Should().Contain(r => r.Id.Id == 505);
    }

    [Fact]
    public async Task RunCycleAsync_AddressCandidateIsNoRelay_StaysOutOfTheBookAndIsRetriedAfterBackoff()
    {
        TestNode plain = _fixture.CreatePublicNode("192.0.2.7");
        AutoRelayService worker = Worker(desired: 1, candidates: [plain.Host.ListenAddresses[0]]);

        (await worker.RunCycleAsync().Within()).Should().Be(0);
        await worker.RunCycleAsync().Within();

        _book.Count.Should().Be(0);
        worker.GetSnapshot().Counters.ProbesFailed.Should().Be(1, "the second cycle falls in the probe's backoff");
        worker.GetSnapshot().PendingProbes.Should().Be(1);
        _fixture.Logs.Collector.GetSnapshot().Should().Contain(r => r.Id.Id == 506 && r.Message.Contains("does not list"));

        _fixture.Time.Advance(TimeSpan.FromSeconds(2)); // past the first backoff: 1 s with a jitter of at most 1.25
        await worker.RunCycleAsync().Within();

        worker.GetSnapshot().Counters.ProbesFailed.Should().Be(2);
    }

    [Fact]
    public async Task CheckLivenessAsync_HeldRelayStopsAnswering_LosesItWithinTheTimeoutAndTheCycleReplacesIt()
    {
        TestNode r1 = Relay("192.0.2.1"), r2 = Relay("198.51.100.250");
        AutoRelayService worker = Worker(desired: 1);
        await worker.RunCycleAsync().Within();
        PeerId first = worker.Relays.Single();
        TestNode frozen = first == r1.Id ? r1 : r2, spare = first == r1.Id ? r2 : r1;
        var pinged = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        frozen.Host.SetStreamHandler("/ipfs/ping/1.0.0", async (_, cancellationToken) =>
        {
            pinged.TrySetResult();
            await release.Task.WaitAsync(cancellationToken);
        });
        var ended = new List<AutoRelayReservationEventArgs>();
        worker.ReservationEnded += (_, e) => ended.Add(e);

        Task<int> check = worker.CheckLivenessAsync();
        await pinged.Task.Within();
        _fixture.Time.Advance(TimeSpan.FromSeconds(5));
        int failed = await check.Within();
        release.TrySetResult();

        failed.Should().Be(1);
        worker.Relays.Should().BeEmpty();
        ended.Should().ContainSingle().Which.Reason.Should().Contain("no ping answer within 5 s");
        _node.Host.GetConnections(frozen.Id).Should().BeEmpty("the node closed its connection to the frozen relay");
        (await worker.RunCycleAsync().Within()).Should().Be(1);
        worker.Relays.Should().Equal(spare.Id);
        worker.GetSnapshot().Counters.LivenessFailures.Should().Be(1);
    }

    [Fact]
    public async Task CheckLivenessAsync_RelayAnswers_KeepsTheReservation()
    {
        Relay("192.0.2.1");
        AutoRelayService worker = Worker(desired: 1);
        await worker.RunCycleAsync().Within();

        (await worker.CheckLivenessAsync().Within()).Should().Be(0);

        worker.Relays.Should().HaveCount(1);
    }

    [Fact]
    public async Task GetSnapshot_ToJson_CarriesReservationsSourcesAndCounters()
    {
        TestNode relay = Relay("192.0.2.1");
        AutoRelayService worker = Worker(desired: 2);
        await worker.RunCycleAsync().Within();

        using var json = System.Text.Json.JsonDocument.Parse(worker.GetSnapshot().ToJson());

        System.Text.Json.JsonElement root = json.RootElement;
        root.GetProperty("desiredReservations").GetInt32().Should().Be(2);
        root.GetProperty("heldReservations").GetInt32().Should().Be(1);
        root.GetProperty("reservations")[0].GetProperty("relay").GetString().Should().Be(relay.Id.ToString());
        root.GetProperty("reservations")[0].GetProperty("circuitAddresses")[0].GetString().Should().EndWith("/p2p-circuit");
        root.GetProperty("candidatesBySource").GetProperty("configured").GetInt32().Should().Be(1);
        root.GetProperty("counters").GetProperty("reservationsOpened").GetInt64().Should().Be(1);
        root.GetProperty("counters").GetProperty("cycles").GetInt64().Should().Be(1);
    }

    [Fact]
    public void Constructor_RelayedCandidate_NamesTheOption()
    {
        Func<AutoRelayService> create = () => Worker(candidates: [Multiaddr.Parse($"/ip4/192.0.2.9/tcp/4001/p2p/{_node.Id}/p2p-circuit")]);

        create.Should().Throw<ArgumentException>().WithMessage("*Candidates*");
    }

    [Fact]
    public async Task StopAsync_ThenStart_ReleasesEveryReservationAndReservesAgain()
    {
        Relay("192.0.2.1");
        AutoRelayService worker = Worker(desired: 1);
        var opened = Channel.CreateUnbounded<AutoRelayReservationEventArgs>();
        worker.ReservationOpened += (_, e) => opened.Writer.TryWrite(e);
        worker.Start();
        await opened.Reader.ReadAsync().AsTask().Within();

        await worker.StopAsync().Within();

        worker.Relays.Should().BeEmpty("a node that turned public releases its reservations");
        _node.Client.Reservations.Should().BeEmpty();
        worker.Start();
        await opened.Reader.ReadAsync().AsTask().Within();
        worker.Relays.Should().HaveCount(1);
    }

    [Fact]
    public async Task RunCycleAsync_ReservationAtMaxAge_ReservesTheReplacementBeforeReleasingIt()
    {
        TestNode r1 = Relay("192.0.2.1"), r2 = Relay("198.51.100.250");
        var pool = new RelayPool(_book, new RelayPoolOptions { RngSeed = 1, MaxReservationAge = TimeSpan.FromMinutes(10) }, _fixture.Time);
        AutoRelayService worker = Worker(desired: 1, pool: pool);
        await worker.RunCycleAsync().Within();
        PeerId first = worker.Relays.Single();
        var order = new List<string>();
        worker.ReservationOpened += (_, e) => order.Add($"opened {e.Relay} with {worker.Relays.Count} live");
        worker.ReservationEnded += (_, e) => order.Add($"ended {e.Relay} ({e.Reason}) with {worker.Relays.Count} live");

        _fixture.Time.Advance(TimeSpan.FromMinutes(10));
        await worker.RunCycleAsync().Within();

        PeerId second = first == r1.Id ? r2.Id : r1.Id;
        worker.Relays.Should().Equal(second);
        order.Should().Equal($"opened {second} with 2 live", $"ended {first} (rotated) with 1 live");
        worker.GetSnapshot().Counters.Rotations.Should().Be(1);
    }

    [Fact]
    public async Task DisposeAsync_HeldReservations_AreReleased()
    {
        Relay("192.0.2.1");
        AutoRelayService worker = Worker(desired: 1);
        await worker.RunCycleAsync().Within();
        _node.Client.Reservations.Should().HaveCount(1);
        var ended = new List<AutoRelayReservationEventArgs>();
        worker.ReservationEnded += (_, e) => ended.Add(e);
        using MetricCollector<long> reservations = _fixture.Meters.Collect<long>("CircuitRelay", "libp2p.autorelay.reservations");

        await worker.DisposeAsync().Within();

        _node.Client.Reservations.Should().BeEmpty();
        worker.Relays.Should().BeEmpty();
        ended.Should().ContainSingle().Which.Reason.Should().Be("stopped");
        reservations.GetMeasurementSnapshot().Select(m => (string?)m.Tags["outcome"]).Should().Equal("closed");
        worker.GetSnapshot().Counters.ReservationsClosed.Should().Be(1);
    }

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        // The fixture disposes what the test gave it (bounded, in reverse) before the relay and the hosts.
        await _fixture.DisposeAsync();
    }

    private TestNode Relay(string ip, Action<RelayServerOptions>? configure = null, bool configured = true)
    {
        TestNode relay = _fixture.CreatePublicNode(ip);
        var options = new RelayServerOptions();
        configure?.Invoke(options);
        var server = new RelayServer(relay.Host, options, _fixture.Logs.Factory, _fixture.Meters, _fixture.Time);
        server.Start();
        _servers[relay.Id] = _fixture.Own(server);
        if (configured)
        {
            _book.AddConfigured(relay.Id, [relay.Host.ListenAddresses[0]]);
        }

        return relay;
    }

    private AutoRelayService Worker(int desired = 2, bool start = false, IEnumerable<Multiaddr>? staticRelays = null, IEnumerable<Multiaddr>? candidates = null, RelayPool? pool = null)
    {
        var options = new AutoRelayOptions { DesiredReservations = desired };
        foreach (Multiaddr relay in staticRelays ?? [])
        {
            options.StaticRelays.Add(relay);
        }

        foreach (Multiaddr candidate in candidates ?? [])
        {
            options.Candidates.Add(candidate);
        }

        var worker = new AutoRelayService(_node.Host, _book, pool ?? _pool, options, _fixture.Logs.Factory, _fixture.Meters, _fixture.Time);
        _fixture.Own(worker);
        if (start)
        {
            worker.Start();
        }

        return worker;
    }
}
