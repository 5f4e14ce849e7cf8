using System.Net;
using CircuitRelay.Abstractions;
using CircuitRelay.Crypto;
using CircuitRelay.ReferenceHost.Transports.Memory;
using Microsoft.Extensions.Logging.Abstractions;

namespace CircuitRelay.ReferenceHost.Tests.Host;

/// <summary>
/// Inbound caps per address and subnet, idle inbound connections closed, and an idle one trimmed for a new one at the
/// global cap: reference hosts over the memory transport on a manual clock.
/// </summary>
public sealed class InboundLimitsTests : IAsyncLifetime
{
    private readonly MemoryNetwork _network = new();
    private readonly ManualTimeProvider _time = new();
    private readonly List<Libp2pHost> _hosts = [];
    private readonly Dictionary<IPAddress, MemoryNat> _nats = [];

    [Fact]
    public async Task Accept_OneAddressOverMaxPerIp_IsRefusedWhileAnotherAddressConnects()
    {
        Libp2pHost server = await ServerAsync(o => o.MaxInboundConnectionsPerIp = 2);
        Libp2pHost[] behindOneNat = [await BehindNatAsync("203.0.113.5"), await BehindNatAsync("203.0.113.5"), await BehindNatAsync("203.0.113.5")];
        await behindOneNat[0].DialAsync(AddressOf(server)).Within();
        await behindOneNat[1].DialAsync(AddressOf(server)).Within();

        Func<Task> third = () => behindOneNat[2].DialAsync(AddressOf(server)).Within();

        await third.Should().ThrowAsync<IOException>();
        server.GetConnections(behindOneNat[2].Identity.PeerId).Should().BeEmpty();
        Libp2pHost elsewhere = await PublicAsync("192.0.2.7");
        await ConnectAndIdentifyAsync(elsewhere, server);
        server.GetConnections(elsewhere.Identity.PeerId).Should().ContainSingle();
    }

    [Fact]
    public async Task Accept_OneSubnetOverMaxPerSubnet_IsRefusedWhileAnotherSubnetConnects()
    {
        Libp2pHost server = await ServerAsync(o =>
        {
            o.MaxInboundConnectionsPerIp = 0;
            o.MaxInboundConnectionsPerSubnet = 2;
        });
        await (await PublicAsync("203.0.113.5")).DialAsync(AddressOf(server)).Within();
        await (await PublicAsync("203.0.113.6")).DialAsync(AddressOf(server)).Within();
        Libp2pHost sameSubnet = await PublicAsync("203.0.113.7");

        Func<Task> third = () => sameSubnet.DialAsync(AddressOf(server)).Within();

        await third.Should().ThrowAsync<IOException>("203.0.113.0/24 has its two places");
        await (await PublicAsync("192.0.2.7")).DialAsync(AddressOf(server)).Within();
    }

    [Fact]
    public async Task IdleSweep_InboundConnectionWithoutStreams_IsClosedButAProtectedOneAndAnOutboundOneStay()
    {
        Libp2pHost server = await ServerAsync(o => o.InboundIdleTimeout = TimeSpan.FromSeconds(60));
        Libp2pHost idle = await PublicAsync("192.0.2.7");
        Libp2pHost kept = await PublicAsync("192.0.2.8");
        Libp2pHost dialedOut = await PublicAsync("192.0.2.9", listen: true);
        await ConnectAndIdentifyAsync(idle, server);
        await ConnectAndIdentifyAsync(kept, server);
        await server.DialAsync(AddressOf(dialedOut)).Within();
        server.Protect(kept.Identity.PeerId, "test");
        Task closed = ClosedAsync(server, idle.Identity.PeerId);

        _time.Advance(TimeSpan.FromSeconds(10));
        _time.Advance(TimeSpan.FromSeconds(70));

        await closed.Within();
        server.GetConnections(kept.Identity.PeerId).Should().ContainSingle("a protected peer's connection is kept");
        server.GetConnections(dialedOut.Identity.PeerId).Should().ContainSingle("only inbound connections are swept:{0}{1}", Environment.NewLine, string.Join(Environment.NewLine, server.Connections));
        server.Unprotect(kept.Identity.PeerId, "test").Should().BeFalse();
        server.IsProtected(kept.Identity.PeerId).Should().BeFalse();
    }

    [Fact]
    public async Task Accept_AtTheGlobalCapWithAnIdleConnection_TrimsItForTheNewOne()
    {
        Libp2pHost server = await ServerAsync(o =>
        {
            o.MaxInboundConnections = 2;
            o.InboundIdleTimeout = null;
        });
        Libp2pHost first = await PublicAsync("192.0.2.7");
        Libp2pHost second = await PublicAsync("192.0.2.8");
        Libp2pHost third = await PublicAsync("192.0.2.9");
        await ConnectAndIdentifyAsync(first, server);
        await ConnectAndIdentifyAsync(second, server);
        server.Protect(second.Identity.PeerId, "reservation");
        Task firstClosed = ClosedAsync(server, first.Identity.PeerId);

        await ConnectAndIdentifyAsync(third, server);

        await firstClosed.Within();
        server.GetConnections(third.Identity.PeerId).Should().ContainSingle();
        server.GetConnections(second.Identity.PeerId).Should().ContainSingle("the protected connection was not the one trimmed");
    }

    [Fact]
    public void Validate_NegativePerIpCap_NamesIt()
    {
        Action validate = () => new Libp2pHostOptions { MaxInboundConnectionsPerIp = -1 }.Validate();

        validate.Should().Throw<ArgumentException>().WithMessage("*MaxInboundConnectionsPerIp*");
    }

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (Libp2pHost host in _hosts)
        {
            await host.DisposeAsync();
        }

        _network.Dispose();
    }

    private static Multiaddr AddressOf(Libp2pHost host) => host.ListenAddresses[0].WithPeerId(host.Identity.PeerId);

    private static Task ClosedAsync(Libp2pHost host, PeerId peer)
    {
        var closed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        host.ConnectionClosed += (_, e) =>
        {
            if (e.Connection.RemotePeer == peer)
            {
                closed.TrySetResult();
            }
        };
        return closed.Task;
    }

    /// <summary>Connects and waits until Identify ran both ways, so no stream is left open on the connection.</summary>
    private static async Task ConnectAndIdentifyAsync(Libp2pHost client, Libp2pHost server)
    {
        var identified = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        server.PeerIdentified += (_, e) =>
        {
            if (e.Record.Peer == client.Identity.PeerId)
            {
                identified.TrySetResult();
            }
        };
        await client.DialAsync(AddressOf(server)).Within();
        await identified.Task.Within();
    }

    private Task<Libp2pHost> ServerAsync(Action<Libp2pHostOptions> configure) => StartAsync(_network.AddNode(IPAddress.Parse("198.51.100.1")), "198.51.100.1", configure);

    private Task<Libp2pHost> PublicAsync(string ip, bool listen = false) => StartAsync(_network.AddNode(IPAddress.Parse(ip)), listen ? ip : null, null);

    private Task<Libp2pHost> BehindNatAsync(string publicIp)
    {
        IPAddress address = IPAddress.Parse(publicIp);
        if (!_nats.TryGetValue(address, out MemoryNat? nat))
        {
            _nats[address] = nat = _network.AddNat(address, NatMapping.EndpointIndependent);
        }

        return StartAsync(nat.AddNode(IPAddress.Parse($"10.0.0.{_hosts.Count + 2}")), null, null);
    }

    private async Task<Libp2pHost> StartAsync(MemoryTransport transport, string? listenIp, Action<Libp2pHostOptions>? configure)
    {
        // The manual clock jumps by minutes: no Yamux keep-alive, and the hosts' own deadlines far beyond the jumps, so
        // an upgrade still finishing in real time is not cut by a deadline the jump crossed.
        var options = new Libp2pHostOptions
        {
            KeepAliveInterval = null,
            HandshakeTimeout = TimeSpan.FromDays(30),
            DialTimeout = TimeSpan.FromDays(30),
            StreamNegotiationTimeout = TimeSpan.FromDays(30),
        };
        options.Transports.Add(transport);
        if (listenIp is not null)
        {
            options.ListenAddresses.Add($"/ip4/{listenIp}/tcp/4001");
        }

        configure?.Invoke(options);
        Libp2pHost host = await Libp2pHost.StartAsync(KeyIdentity.Generate(), options, NullLoggerFactory.Instance, _time).Within();
        _hosts.Add(host);
        return host;
    }
}
