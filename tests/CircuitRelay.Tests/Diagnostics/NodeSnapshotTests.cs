using System.Text.Json;
using CircuitRelay.Adverts;
using CircuitRelay.AutoNat;
using CircuitRelay.AutoRelay;
using CircuitRelay.Diagnostics;
using CircuitRelay.Server;
using CircuitRelay.Tests.Infrastructure;
using CircuitRelay.Tests.Relay;

namespace CircuitRelay.Tests.Diagnostics;

/// <summary>The node snapshot and its JSON: the relay's counters, the AutoRelay worker's state and AutoNAT's view, on the memory transport and the manual clock.</summary>
public sealed class NodeSnapshotTests : IAsyncLifetime
{
    private readonly RelayFixture _fixture = RelayFixture.Create();
    private readonly List<TestNode> _serverNodes = [];

    [Fact]
    public void Create_NoComponents_EveryPartNullInTheFixedOrderAndTheTimeFromTheClock()
    {
        _fixture.Time.Advance(TimeSpan.FromMinutes(3));

        NodeSnapshot snapshot = NodeSnapshot.Create(_fixture.Time, null, null, null, null, null);

        snapshot.Time.Should().Be(_fixture.Time.GetUtcNow());
        using JsonDocument json = JsonDocument.Parse(snapshot.ToJson());
        json.RootElement.EnumerateObject().Select(p => p.Name).Should().Equal("time", "relay", "autoRelay", "autoNat", "autoNatServers");
        json.RootElement.EnumerateObject().Skip(1).Should().OnlyContain(p => p.Value.ValueKind == JsonValueKind.Null, "a component the node lacks is null, never made up");
        json.RootElement.GetProperty("time").GetDateTimeOffset().Should().Be(_fixture.Time.GetUtcNow());
        snapshot.ToJson().Should().Contain("\n  \"relay\": null", "the JSON is indented");
    }

    [Fact]
    public async Task ToJson_AfterAReservation_HasTheRelaysCounters()
    {
        Task accepted = NextReservationEventAsync(ReservationEventKind.Accepted);
        TestNode node = _fixture.CreateNode();
        await node.Client.ReserveAsync(_fixture.RelayId, [_fixture.RelayAddress]).Within();
        await accepted.Within();

        using JsonDocument json = JsonDocument.Parse(NodeSnapshot.Create(_fixture.Time, _fixture.Server, null, null, null, null).ToJson());

        JsonElement relay = json.RootElement.GetProperty("relay");
        relay.GetProperty("activeReservations").GetInt32().Should().Be(1);
        relay.GetProperty("reservationsAccepted").GetInt64().Should().Be(1);
        relay.GetProperty("reservationsRefused").GetInt64().Should().Be(0);
        relay.GetProperty("circuitsOpened").GetInt64().Should().Be(0);
        relay.GetProperty("loadLevel").GetString().Should().Be("normal", "enums are camel-case names");
        json.RootElement.GetProperty("autoRelay").ValueKind.Should().Be(JsonValueKind.Null);
    }

    [Fact]
    public async Task Create_WorkerReservedOnTheRelay_BothSidesOfTheReservationInOneSnapshot()
    {
        TestNode node = _fixture.CreateNode("203.0.113.200");
        var book = new RelayAddressBook(new RelayAddressBookOptions(), _fixture.Time);
        book.AddConfigured(_fixture.RelayId, [_fixture.RelayHost.ListenAddresses[0]]);
        var worker = new AutoRelayService(node.Host, book, new RelayPool(book, new RelayPoolOptions { RngSeed = 1 }, _fixture.Time), new AutoRelayOptions { DesiredReservations = 1 }, _fixture.Logs.Factory, _fixture.Meters, _fixture.Time);
        _fixture.Own(worker);
        Task accepted = NextReservationEventAsync(ReservationEventKind.Accepted);
        (await worker.RunCycleAsync().Within()).Should().Be(1);
        await accepted.Within();

        NodeSnapshot snapshot = NodeSnapshot.Create(_fixture.Time, _fixture.Server, worker, null, null, null);

        snapshot.Relay!.ActiveReservations.Should().Be(1);
        snapshot.AutoRelay!.HeldReservations.Should().Be(1);
        using JsonDocument json = JsonDocument.Parse(snapshot.ToJson());
        JsonElement autoRelay = json.RootElement.GetProperty("autoRelay");
        autoRelay.GetProperty("reservations")[0].GetProperty("relay").GetString().Should().Be(_fixture.RelayId.ToString());
        autoRelay.GetProperty("counters").GetProperty("reservationsOpened").GetInt64().Should().Be(1);
        json.RootElement.GetProperty("relay").GetProperty("reservationsAccepted").GetInt64().Should().Be(1);
    }

    [Fact]
    public void GetSnapshot_NothingProbedYet_UnknownWithNoRunAndNoAddresses()
    {
        AutoNatService service = _fixture.Own(new AutoNatService(_fixture.CreateNode().Host, new AutoNatServiceOptions { RngSeed = 1 }, _fixture.Logs.Factory, _fixture.Meters, _fixture.Time));

        AutoNatSnapshot snapshot = service.GetSnapshot();

        snapshot.Should().BeEquivalentTo(new { Role = NodeRole.Unknown, IsRoleForced = false, Confidence = 3, RunCount = 0, RunToward = (NodeRole?)null, ProbesSent = 0L });
        snapshot.Addresses.Should().BeEmpty();
        snapshot.Time.Should().Be(_fixture.Time.GetUtcNow());
        using JsonDocument json = JsonDocument.Parse(snapshot.ToJson());
        json.RootElement.GetProperty("role").GetString().Should().Be("unknown");
        json.RootElement.GetProperty("runToward").ValueKind.Should().Be(JsonValueKind.Null);
    }

    [Fact]
    public void GetSnapshot_ForcedRole_SaysSo()
    {
        AutoNatService service = _fixture.Own(new AutoNatService(_fixture.CreateNode().Host, new AutoNatServiceOptions { ForcedRole = NodeRole.Private }, _fixture.Logs.Factory, _fixture.Meters, _fixture.Time));

        using JsonDocument json = JsonDocument.Parse(NodeSnapshot.Create(_fixture.Time, null, null, service, null, null).ToJson());

        JsonElement autoNat = json.RootElement.GetProperty("autoNat");
        autoNat.GetProperty("role").GetString().Should().Be("private");
        autoNat.GetProperty("isRoleForced").GetBoolean().Should().BeTrue();
    }

    [Fact]
    public async Task ToJson_ThreeV2ServersFoundTheAddressPublic_RolePerAddressStateAndTheServersCounters()
    {
        AutoNatV2Server[] servers = [V2Server("192.0.2.1"), V2Server("198.51.100.50"), V2Server("203.0.113.60")];
        TestNode node = _fixture.CreatePublicNode("192.0.2.10");
        foreach (TestNode server in _serverNodes)
        {
            await RelayFixture.DialAndIdentifyAsync(node, server, AutoNatV2Server.DialRequestProtocol);
        }

        AutoNatService service = _fixture.Own(new AutoNatService(node.Host, new AutoNatServiceOptions { RngSeed = 3 }, _fixture.Logs.Factory, _fixture.Meters, _fixture.Time));
        service.Start();
        for (int i = 0; i < 2; i++)
        {
            (await service.ProbeOnceAsync().Within())!.Status.Should().Be(AutoNatStatus.Ok);
        }

        AutoNatSnapshot halfway = service.GetSnapshot();
        halfway.RunCount.Should().Be(2);
        halfway.RunToward.Should().Be(NodeRole.Public);
        halfway.Addresses.Should().ContainSingle().Which.Should().Be(new AddressReachabilitySnapshot("/ip4/192.0.2.10/tcp/4001", NodeRole.Unknown, 2));
        (await service.ProbeOnceAsync().Within())!.Status.Should().Be(AutoNatStatus.Ok);
        await ListenerTests.WaitUntilAsync(() => servers.Sum(s => s.RequestsServed) == 3);
        AutoNatServer v1 = _fixture.Own(new AutoNatServer(node.Host, new AutoNatServerOptions { RngSeed = 1 }, _fixture.Logs.Factory, _fixture.Meters, _fixture.Time));

        using JsonDocument json = JsonDocument.Parse(NodeSnapshot.Create(_fixture.Time, null, null, service, v1, servers[0]).ToJson());

        JsonElement autoNat = json.RootElement.GetProperty("autoNat");
        autoNat.GetProperty("role").GetString().Should().Be("public");
        autoNat.GetProperty("runCount").GetInt32().Should().Be(0, "the run ended in the change");
        autoNat.GetProperty("probesSent").GetInt64().Should().Be(3);
        JsonElement address = autoNat.GetProperty("addresses").EnumerateArray().Should().ContainSingle().Subject;
        address.GetProperty("address").GetString().Should().Be("/ip4/192.0.2.10/tcp/4001");
        address.GetProperty("state").GetString().Should().Be("public");
        JsonElement counters = json.RootElement.GetProperty("autoNatServers");
        counters.GetProperty("v1").GetProperty("requestsServed").GetInt64().Should().Be(0);
        counters.GetProperty("v2").GetProperty("requestsServed").GetInt64().Should().Be(1, "each server was asked once");
        counters.GetProperty("v2").GetProperty("requestsRefused").GetInt64().Should().Be(0);
    }

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        await _fixture.DisposeAsync().AsTask().Within();
    }

    private Task NextReservationEventAsync(ReservationEventKind kind)
    {
        var seen = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _fixture.Server.ReservationChanged += (_, e) =>
        {
            if (e.Kind == kind)
            {
                seen.TrySetResult();
            }
        };
        return seen.Task;
    }

    private AutoNatV2Server V2Server(string ip)
    {
        TestNode node = _fixture.CreatePublicNode(ip);
        _serverNodes.Add(node);
        AutoNatV2Server server = _fixture.Own(new AutoNatV2Server(node.Host, new AutoNatV2ServerOptions { RngSeed = 1, DialDataWait = TimeSpan.Zero }, _fixture.Logs.Factory, _fixture.Meters, _fixture.Time));
        server.Start();
        return server;
    }

}
