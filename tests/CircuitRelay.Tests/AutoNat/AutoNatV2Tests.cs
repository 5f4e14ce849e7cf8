using CircuitRelay.Abstractions;
using CircuitRelay.Adverts;
using CircuitRelay.AutoNat;
using CircuitRelay.Multiformats;
using CircuitRelay.Tests.Infrastructure;
using CircuitRelay.Tests.Relay;
using Google.Protobuf;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using PbV2 = CircuitRelay.AutoNat.PbV2;

namespace CircuitRelay.Tests.AutoNat;

/// <summary>AutoNAT v2 client and server on reference hosts over the memory transport (public nodes, nodes behind a NAT, a node with two addresses), on the manual clock.</summary>
public sealed class AutoNatV2Tests : IAsyncLifetime
{
    private readonly RelayFixture _fixture = RelayFixture.Create();

    [Fact]
    public async Task Probe_PublicAddressOnTheObservedIp_ReachableWithoutDialData()
    {
        AutoNatV2Server server = Server();
        TestNode node = _fixture.CreatePublicNode("192.0.2.10");
        AutoNatV2Client client = Client(node);
        await node.Host.DialAsync(_fixture.RelayAddress).Within();
        var inbound = new List<ConnectionInfo>();
        node.Host.ConnectionOpened += (_, e) =>
        {
            lock (inbound)
            {
                inbound.Add(e.Connection);
            }
        };

        AutoNatV2Result result = await client.ProbeAsync(_fixture.RelayId, [Multiaddr.Parse("/ip4/192.0.2.10/tcp/4001")]).Within();

        result.Outcome.Should().Be(AutoNatV2Outcome.Reachable, result.Reason);
        result.Address.Should().Be(Multiaddr.Parse("/ip4/192.0.2.10/tcp/4001"));
        result.DialDataPaid.Should().Be(0);
        ConnectionInfo dialBack = inbound.Should().ContainSingle().Subject;
        dialBack.RemoteAddress.TryGetIPEndPoint(out System.Net.IPEndPoint? from).Should().BeTrue();
        from!.Port.Should().NotBe(4001, "the dial-back leaves from an ephemeral port, not the server's listen port");
        server.RequestsServed.Should().Be(1);
        await ListenerTests.WaitUntilAsync(() => node.Host.GetConnections(_fixture.RelayId).Count == 1);
    }

    [Fact]
    public async Task Probe_NodeBehindANat_UnreachableAndTheFirstDialableAddressIsTheOneTested()
    {
        Server();
        TestNode node = _fixture.CreateNode("203.0.113.5");
        AutoNatV2Client client = Client(node);
        await node.Host.DialAsync(_fixture.RelayAddress).Within();

        AutoNatV2Result result = await client.ProbeAsync(
            _fixture.RelayId,
            [Multiaddr.Parse("/ip4/192.168.0.2/tcp/4001"), Multiaddr.Parse("/ip4/203.0.113.5/tcp/4001"), Multiaddr.Parse("/ip4/203.0.113.5/tcp/4002")]).Within();

        result.Outcome.Should().Be(AutoNatV2Outcome.Unreachable);
        result.Address.Should().Be(Multiaddr.Parse("/ip4/203.0.113.5/tcp/4001"), "the private address is skipped and no other is dialed");
        _fixture.Logs.Events(601).Should().ContainSingle("one address is dialed, no other");
    }

    [Fact]
    public async Task Probe_AddressOffTheObservedIp_DialDataAskedPaidInChunksAndThenDialed()
    {
        Server();
        TestNode node = _fixture.CreatePublicNode("192.0.2.10", "192.0.2.11");
        AutoNatV2Client client = Client(node);
        await node.Host.DialAsync(_fixture.RelayAddress).Within();
        node.Host.GetConnections(_fixture.RelayId).Single().LocalAddress!.ToString().Should().StartWith("/ip4/192.0.2.10/");
        using MetricCollector<long> served = _fixture.Meters.Collect<long>("CircuitRelay", "libp2p.autonat.v2.server.requests");

        AutoNatV2Result result = await client.ProbeAsync(_fixture.RelayId, [Multiaddr.Parse("/ip4/192.0.2.11/tcp/4001")]).Within();

        result.Outcome.Should().Be(AutoNatV2Outcome.Reachable, result.Reason);
        result.DialDataPaid.Should().BeInRange(30_000, 100_000);
        served.GetMeasurementSnapshot().Should().ContainSingle().Which.Tags.Should().Contain(
            [new("status", "ok"), new("dial_status", "ok"), new("reason", "dialed"), new KeyValuePair<string, object?>("dial_data", true)]);
    }

    [Fact]
    public async Task Probe_ClientDeclinesTheDialData_TheAddressOffItsIpIsNeverDialed()
    {
        Server();
        TestNode node = _fixture.CreatePublicNode("192.0.2.10");
        TestNode victim = _fixture.CreatePublicNode("192.0.2.99");
        var client = new AutoNatV2Client(node.Host, _fixture.Logs.Factory, _fixture.Time) { MaxDialData = 1_000 };
        client.Start();
        _fixture.Own(client);
        await node.Host.DialAsync(_fixture.RelayAddress).Within();

        AutoNatV2Result result = await client.ProbeAsync(_fixture.RelayId, [Multiaddr.Parse("/ip4/192.0.2.99/tcp/4001")]).Within();

        result.Outcome.Should().Be(AutoNatV2Outcome.Failed);
        result.Reason.Should().Contain("declined");
        await ListenerTests.WaitUntilAsync(() => _fixture.Logs.Events(604).Count == 1);
        _fixture.Logs.Events(604).Single().Message.Should().Contain("reset");
        victim.Host.GetConnections(_fixture.RelayId).Should().BeEmpty("without dial data the server dials nothing off the requester's IP");
    }

    [Fact]
    public async Task Request_DialDataInTinyChunks_ResetAndNothingDialed()
    {
        Server();
        TestNode node = _fixture.CreatePublicNode("192.0.2.10", "192.0.2.11");
        await node.Host.DialAsync(_fixture.RelayAddress).Within();
        await using ILibp2pStream stream = await node.Host.OpenStreamAsync(_fixture.RelayId, AutoNatV2Server.DialRequestProtocol).Within();
        await WriteAsync(stream, new PbV2.Message { DialRequest = new PbV2.DialRequest { Nonce = 7, Addrs = { ByteString.CopyFrom(Multiaddr.Parse("/ip4/192.0.2.11/tcp/4001").ToByteArray()) } } });
        PbV2.Message ask = await ReadAsync(stream);
        ask.DialDataRequest.NumBytes.Should().BeInRange(30_000UL, 100_000UL);

        await WriteAsync(stream, new PbV2.Message { DialDataResponse = new PbV2.DialDataResponse { Data = ByteString.CopyFrom(new byte[10]) } });

        (await stream.Input.ReadUntilEndOrResetAsync().Within()).Reset.Should().BeTrue();
        _fixture.Logs.Events(601).Should().BeEmpty("nothing was dialed");
    }

    [Fact]
    public async Task Probe_OverThePerPeerRate_Rejected()
    {
        AutoNatV2Server server = Server(o => o.RequestsPerPeerPerMinute = 1);
        TestNode node = _fixture.CreatePublicNode("192.0.2.10");
        AutoNatV2Client client = Client(node);
        await node.Host.DialAsync(_fixture.RelayAddress).Within();
        Multiaddr[] mine = [Multiaddr.Parse("/ip4/192.0.2.10/tcp/4001")];
        (await client.ProbeAsync(_fixture.RelayId, mine).Within()).Outcome.Should().Be(AutoNatV2Outcome.Reachable);

        AutoNatV2Result second = await client.ProbeAsync(_fixture.RelayId, mine).Within();

        second.Outcome.Should().Be(AutoNatV2Outcome.Rejected);
        second.IsSignal.Should().BeFalse();
        server.RequestsRefused.Should().Be(1);
        _fixture.Time.Advance(TimeSpan.FromMinutes(1));
        (await client.ProbeAsync(_fixture.RelayId, mine).Within()).Outcome.Should().Be(AutoNatV2Outcome.Reachable, "the rate refills");
    }

    [Fact]
    public async Task Probe_OnlyPrivateOrRelayedAddresses_Refused()
    {
        Server();
        TestNode node = _fixture.CreatePublicNode("192.0.2.10");
        AutoNatV2Client client = Client(node);
        await node.Host.DialAsync(_fixture.RelayAddress).Within();

        AutoNatV2Result result = await client.ProbeAsync(_fixture.RelayId, [Multiaddr.Parse("/ip4/10.0.0.1/tcp/4001"), _fixture.CircuitAddressOf(node)]).Within();

        result.Outcome.Should().Be(AutoNatV2Outcome.Refused);
        result.IsSignal.Should().BeFalse();
    }

    [Fact]
    public async Task DialBack_WithAWrongNonce_ResetAndTheClaimedSuccessDiscarded()
    {
        TestNode node = _fixture.CreatePublicNode("192.0.2.10");
        var client = new AutoNatV2Client(node.Host, _fixture.Logs.Factory, _fixture.Time) { DialBackWait = TimeSpan.Zero };
        client.Start();
        _fixture.Own(client);
        bool? dialBackReset = null;
        Exception? failure = null;
        _fixture.RelayHost.SetStreamHandler(AutoNatV2Server.DialRequestProtocol, async (stream, _) =>
        {
            await using (stream)
            try
            {
                PbV2.Message request = await ReadAsync(stream);
                ConnectionInfo back = await _fixture.RelayHost.DialAsync(node.Address, new DialOptions { ForceNewConnection = true }).Within();
                await using (ILibp2pStream dialBack = await _fixture.RelayHost.OpenStreamAsync(node.Id, AutoNatV2Client.DialBackProtocol, new OpenStreamOptions { Connection = back }).Within())
                {
                    await LengthPrefixed.WriteAsync(dialBack.Output, new PbV2.DialBack { Nonce = request.DialRequest.Nonce + 1 }.ToByteArray()).AsTask().Within();
                    dialBackReset = (await dialBack.Input.ReadUntilEndOrResetAsync().Within()).Reset;
                }

                await WriteAsync(stream, new PbV2.Message { DialResponse = new PbV2.DialResponse { Status = PbV2.DialResponse.Types.ResponseStatus.Ok, DialStatus = PbV2.DialStatus.Ok } });
            }
            catch (Exception ex)
            {
                failure = ex;
                throw;
            }
        });
        await node.Host.DialAsync(_fixture.RelayAddress).Within();

        AutoNatV2Result result = await client.ProbeAsync(_fixture.RelayId, [Multiaddr.Parse("/ip4/192.0.2.10/tcp/4001")]).Within();

        failure.Should().BeNull("the fake server ran through");
        result.Outcome.Should().Be(AutoNatV2Outcome.Failed);
        result.Reason.Should().Contain("nonce never arrived");
        dialBackReset.Should().BeTrue("a dial-back with a nonce we never sent is reset");
        _fixture.Logs.Events(605).Should().ContainSingle();
    }

    [Theory]
    [InlineData(999, 200, "unknown status")]
    [InlineData(200, 999, "dial status")]
    [InlineData(200, 0, "dial status")]
    [InlineData(0, 0, "internal error")]
    public async Task Answer_UnknownOrErrorStatus_DiscardedAsNoSignal(int status, int dialStatus, string reason)
    {
        TestNode node = _fixture.CreatePublicNode("192.0.2.10");
        AutoNatV2Client client = Client(node);
        _fixture.RelayHost.SetStreamHandler(AutoNatV2Server.DialRequestProtocol, async (stream, _) =>
        {
            await using (stream)
            {
                await ReadAsync(stream);
                await WriteAsync(stream, new PbV2.Message { DialResponse = new PbV2.DialResponse { Status = (PbV2.DialResponse.Types.ResponseStatus)status, DialStatus = (PbV2.DialStatus)dialStatus } });
            }
        });
        await node.Host.DialAsync(_fixture.RelayAddress).Within();

        AutoNatV2Result result = await client.ProbeAsync(_fixture.RelayId, [Multiaddr.Parse("/ip4/192.0.2.10/tcp/4001")]).Within();

        result.Outcome.Should().Be(AutoNatV2Outcome.Failed);
        result.Reason.Should().Contain(reason);
        result.IsSignal.Should().BeFalse();
    }

    [Fact]
    public async Task Service_ThreeV2ServersOnDistinctNetworks_AddressAndNodePublicAndTheAddressConfirmed()
    {
        TestNode[] servers = [ServerNode("192.0.2.1"), ServerNode("198.51.100.50"), ServerNode("203.0.113.60")];
        TestNode node = _fixture.CreatePublicNode("192.0.2.10");
        foreach (TestNode server in servers)
        {
            await RelayFixture.DialAndIdentifyAsync(node, server, AutoNatV2Server.DialRequestProtocol);
        }

        await using var service = new AutoNatService(node.Host, new AutoNatServiceOptions { RngSeed = 3 }, _fixture.Logs.Factory, _fixture.Meters, _fixture.Time);
        service.Start();
        var changes = new List<AddressReachabilityEventArgs>();
        service.AddressReachabilityChanged += (_, e) => changes.Add(e);
        using MetricCollector<long> probes = _fixture.Meters.Collect<long>("CircuitRelay", "libp2p.autonat.probes");

        for (int i = 0; i < 3; i++)
        {
            AutoNatProbeResult result = (await service.ProbeOnceAsync().Within())!;
            result.Version.Should().Be(2);
            result.Status.Should().Be(AutoNatStatus.Ok, result.StatusText);
        }

        Multiaddr address = Multiaddr.Parse("/ip4/192.0.2.10/tcp/4001");
        service.AddressTracker.StateOf(address).Should().Be(NodeRole.Public);
        changes.Should().ContainSingle().Which.Address.Should().Be(address);
        service.Role.Should().Be(NodeRole.Public);
        node.Host.ExternalAddresses.Should().Contain(address, "a confirmed address is announced");
        probes.GetMeasurementSnapshot().Should().OnlyContain(m => (int?)m.Tags["version"] == 2 && (string?)m.Tags["status"] == "ok");
        _fixture.Logs.Events(606).Should().ContainSingle().Which.Message.Should().Contain("distinct networks");
    }

    [Fact]
    public async Task Service_NodeBehindANat_ObservedIpOnTheListenPortTestedAndFoundPrivate()
    {
        TestNode[] servers = [ServerNode("192.0.2.1"), ServerNode("198.51.100.50"), ServerNode("203.0.113.60")];
        TestNode node = _fixture.CreateNode("203.0.113.5");
        foreach (TestNode server in servers)
        {
            await RelayFixture.DialAndIdentifyAsync(node, server, AutoNatV2Server.DialRequestProtocol);
        }

        await using var service = new AutoNatService(node.Host, new AutoNatServiceOptions { RngSeed = 3 }, _fixture.Logs.Factory, _fixture.Meters, _fixture.Time);
        service.Start();

        for (int i = 0; i < 3; i++)
        {
            AutoNatProbeResult result = (await service.ProbeOnceAsync().Within())!;
            result.Version.Should().Be(2);
            result.Status.Should().Be(AutoNatStatus.DialError);
            result.Address.Should().Be(Multiaddr.Parse("/ip4/203.0.113.5/tcp/4001"), "the observed IP on the listen port; the private listen address is not asked about");
        }

        service.AddressTracker.StateOf(Multiaddr.Parse("/ip4/203.0.113.5/tcp/4001")).Should().Be(NodeRole.Private);
        service.Role.Should().Be(NodeRole.Private);
        node.Host.ExternalAddresses.Should().BeEmpty();
    }

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        await _fixture.DisposeAsync().AsTask().Within();
    }

    private static async Task WriteAsync(ILibp2pStream stream, PbV2.Message message)
        => await LengthPrefixed.WriteAsync(stream.Output, message.ToByteArray()).AsTask().Within();

    private static async Task<PbV2.Message> ReadAsync(ILibp2pStream stream)
        => PbV2.Message.Parser.ParseFrom(await LengthPrefixed.ReadAsync(stream.Input, AutoNatV2Server.MaxMessageSize).AsTask().Within());


    private AutoNatV2Client Client(TestNode node)
    {
        var client = new AutoNatV2Client(node.Host, _fixture.Logs.Factory, _fixture.Time);
        client.Start();
        _fixture.Own(client);
        return client;
    }

    private TestNode ServerNode(string ip)
    {
        TestNode node = _fixture.CreatePublicNode(ip);
        var server = new AutoNatV2Server(node.Host, new AutoNatV2ServerOptions { RngSeed = 1, DialDataWait = TimeSpan.Zero }, _fixture.Logs.Factory, _fixture.Meters, _fixture.Time);
        server.Start();
        _fixture.Own(server);
        return node;
    }

    private AutoNatV2Server Server(Action<AutoNatV2ServerOptions>? configure = null)
    {
        var options = new AutoNatV2ServerOptions { RngSeed = 1, DialDataWait = TimeSpan.Zero };
        configure?.Invoke(options);
        var server = new AutoNatV2Server(_fixture.RelayHost, options, _fixture.Logs.Factory, _fixture.Meters, _fixture.Time);
        server.Start();
        _fixture.Own(server);
        return server;
    }
}
