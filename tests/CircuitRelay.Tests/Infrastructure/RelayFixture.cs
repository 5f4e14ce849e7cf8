using System.Net;
using CircuitRelay.Abstractions;
using CircuitRelay.Client;
using CircuitRelay.Crypto;
using CircuitRelay.ReferenceHost;
using CircuitRelay.ReferenceHost.Transports.Memory;
using CircuitRelay.Protocol;
using CircuitRelay.Server;
using CircuitRelay.Transport;
using Microsoft.Extensions.Logging.Abstractions;

namespace CircuitRelay.Tests.Infrastructure;

/// <summary>
/// A node of a test network: a reference host (Noise + Yamux) over its own memory transport, with a started relay
/// client whose circuit transport is added to the host.
/// </summary>
public sealed class TestNode
{
    public required Libp2pHost Host { get; init; }

    public required RelayClient Client { get; init; }

    public required CircuitTransport Transport { get; init; }

    /// <summary>The node's place on the memory network (<see cref="MemoryTransport.AbortAll"/> kills the node).</summary>
    public required MemoryTransport Network { get; init; }

    public PeerId Id => Host.Identity.PeerId;

    /// <summary><c>/ip4/…/tcp/4001/p2p/&lt;id&gt;</c>: where others dial the node (public nodes only).</summary>
    public Multiaddr Address => Host.ListenAddresses[0].WithPeerId(Id);

    /// <summary>Options for <see cref="ILibp2pHost.OpenStreamAsync"/> that let the host dial this node.</summary>
    public OpenStreamOptions DialHere => new() { DialAddresses = [Address] };
}

/// <summary>
/// A relay (reference host + <see cref="RelayServer"/>) and client nodes, every one a <see cref="Libp2pHost"/> over a
/// <see cref="MemoryTransport"/> of one <see cref="MemoryNetwork"/>, all on the fixture's manual clock. Every flow
/// runs through the production multistream-select, Noise and Yamux. One fixture per test.
/// </summary>
/// <remarks>
/// The relay is 198.51.100.1, clients 198.51.100.2, .3, … on the public side. A client created with an ip sits behind
/// a NAT whose public address is that ip (one NAT per ip, so several nodes can share an ip, as the per-ip limits
/// need); such a node dials out but cannot be dialed. Every node listens on <c>/ip4/&lt;ip&gt;/tcp/4001</c>.
/// </remarks>
public sealed class RelayFixture : IAsyncDisposable
{
    /// <summary>The port every node listens on.</summary>
    public const int ListenPort = 4001;

    /// <summary>The host's handshake, dial and negotiation deadline on the manual clock (see <see cref="StartHost"/>).</summary>
    private static readonly TimeSpan HostDeadline = TimeSpan.FromDays(30);

    private readonly List<IAsyncDisposable> _owned = [];
    private readonly List<Libp2pHost> _hosts = [];
    private readonly List<KeyIdentity> _identities = [];
    private readonly Dictionary<IPAddress, (MemoryNat Nat, int Next)> _nats = [];
    private readonly System.Threading.Channels.Channel<RelayCircuitEventArgs> _closedCircuits = System.Threading.Channels.Channel.CreateUnbounded<RelayCircuitEventArgs>();
    private int _nextPublic = 2;

    private RelayFixture(RelayServerOptions serverOptions, RelayClientOptions clientOptions)
    {
        ClientOptions = clientOptions;
        RelayNetwork = Network.AddNode(IPAddress.Parse("198.51.100.1"));
        RelayHost = StartHost(RelayNetwork);
        Server = new RelayServer(RelayHost, serverOptions, Logs.Factory, Meters, Time);
        Server.CircuitClosed += (_, e) => _closedCircuits.Writer.TryWrite(e);
        Server.Start();
    }

    /// <summary>The next circuit-closed event of the relay (events are queued from the start).</summary>
    public Task<RelayCircuitEventArgs> NextClosedCircuitAsync() => _closedCircuits.Reader.ReadAsync().Within();

    public ManualTimeProvider Time { get; } = new();

    /// <summary>What the relay server and the nodes' relay clients logged (the hosts log nowhere), for failure-path assertions.</summary>
    public TestLogging Logs { get; } = new();

    public TestMeterFactory Meters { get; } = new();

    public MemoryNetwork Network { get; } = new();

    public Libp2pHost RelayHost { get; }

    /// <summary>The relay's place on the memory network.</summary>
    public MemoryTransport RelayNetwork { get; }

    public RelayServer Server { get; }

    public RelayClientOptions ClientOptions { get; }

    public PeerId RelayId => RelayHost.Identity.PeerId;

    /// <summary><c>/ip4/198.51.100.1/tcp/4001/p2p/&lt;relay&gt;</c>.</summary>
    public Multiaddr RelayAddress => RelayHost.ListenAddresses[0].WithPeerId(RelayId);

    /// <summary><c>/ip4/198.51.100.1/tcp/4001/p2p/&lt;relay&gt;/p2p-circuit</c>.</summary>
    public Multiaddr RelayCircuitAddress => RelayAddress.Encapsulate("/p2p-circuit");

    /// <summary>Options for <see cref="ILibp2pHost.OpenStreamAsync"/> that let a client's host dial the relay.</summary>
    public OpenStreamOptions DialRelay => new() { DialAddresses = [RelayAddress] };

    public static RelayFixture Create(Action<RelayServerOptions>? server = null, Action<RelayClientOptions>? client = null)
    {
        var serverOptions = new RelayServerOptions();
        server?.Invoke(serverOptions);
        var clientOptions = new RelayClientOptions();
        client?.Invoke(clientOptions);
        return new RelayFixture(serverOptions, clientOptions);
    }

    /// <summary>A relay without circuit limits (for bulk transfers).</summary>
    public static RelayFixture CreateUnlimited(Action<RelayServerOptions>? server = null)
        => Create(o =>
        {
            o.CircuitDataLimit = 0;
            o.CircuitDurationLimit = TimeSpan.Zero;
            server?.Invoke(o);
        });

    /// <summary>A node that reserves on the relay, then answers every stop CONNECT with an undecodable frame.</summary>
    public async Task<TestNode> CreateTargetAnsweringGarbageAsync()
    {
        TestNode target = CreateNode();
        await target.Client.ReserveAsync(RelayId, [RelayAddress]).Within();
        target.Host.SetStreamHandler(RelayProtocol.Stop, async (stream, _) =>
        {
            await stream.Output.WriteAsync(new byte[] { 0x02, 0xff, 0xff });
            await stream.DisposeAsync();
        });
        return target;
    }

    /// <summary>
    /// A client node: on the public side at the next 198.51.100.x, or, when <paramref name="ip"/> is given, behind
    /// the NAT whose public address is <paramref name="ip"/> (the relay sees that ip).
    /// </summary>
    public TestNode CreateNode(string? ip = null)
    {
        MemoryTransport transport;
        if (ip is null)
        {
            transport = Network.AddNode(IPAddress.Parse($"198.51.100.{_nextPublic++}"));
        }
        else
        {
            IPAddress publicAddress = IPAddress.Parse(ip);
            if (!_nats.TryGetValue(publicAddress, out var nat))
            {
                nat = (Network.AddNat(publicAddress, NatMapping.EndpointIndependent), 2);
            }

            transport = nat.Nat.AddNode(IPAddress.Parse($"192.168.0.{nat.Next}"));
            _nats[publicAddress] = (nat.Nat, nat.Next + 1);
        }

        return Build(transport);
    }

    /// <summary>A node reachable directly at <paramref name="ip"/> (no NAT), e.g. another relay on a network of its own.</summary>
    /// <summary>Takes <paramref name="part"/> (a server, a worker, a listener of a test) to dispose, in reverse order and bounded, before the relay and the hosts.</summary>
    public T Own<T>(T part)
        where T : IAsyncDisposable
    {
        _owned.Add(part);
        return part;
    }

    public TestNode CreatePublicNode(string ip) => Build(Network.AddNode(IPAddress.Parse(ip)));

    /// <summary>A node reachable directly at each of <paramref name="ips"/>, listening on all; it dials from the first.</summary>
    public TestNode CreatePublicNode(params string[] ips) => Build(Network.AddNode([.. ips.Select(IPAddress.Parse)]));

    private TestNode Build(MemoryTransport transport)
    {
        Libp2pHost host = StartHost(transport);
        var client = new RelayClient(host, ClientOptions, Logs.Factory, Meters, Time);
        client.Start();
        _owned.Add(client);
        var circuits = new CircuitTransport(client);
        host.AddTransport(circuits);
        return new TestNode { Host = host, Client = client, Transport = circuits, Network = transport };
    }

    /// <summary>A node listening through the relay on a raw <see cref="CircuitListener"/> (the test accepts; no upgrade).</summary>
    public async Task<(TestNode Node, CircuitListener Listener)> CreateListenerAsync(string? ip = null)
    {
        TestNode node = CreateNode(ip);
        CircuitListener listener = await node.Transport.ListenAsync(RelayCircuitAddress).Within();
        _owned.Add(listener);
        return (node, listener);
    }

    /// <summary>A node whose host listens through the relay: the host accepts and upgrades (Noise + Yamux) each circuit.</summary>
    public async Task<(TestNode Node, ITransportListener Listener)> CreateHostListenerAsync(string? ip = null)
    {
        TestNode node = CreateNode(ip);
        ITransportListener listener = await node.Host.ListenAsync(RelayCircuitAddress).Within();
        return (node, listener);
    }

    public Multiaddr CircuitAddressOf(TestNode target) => Multiaddr.CreateCircuit(RelayHost.ListenAddresses[0], RelayId, target.Id);

    /// <summary>Dials <paramref name="target"/> from <paramref name="source"/> and accepts on <paramref name="listener"/>.</summary>
    public async Task<(RelayedConnection Dialer, RelayedConnection Listener)> ConnectAsync(TestNode source, TestNode target, CircuitListener listener)
    {
        Task<RelayedConnection?> accept = listener.AcceptAsync().AsTask();
        RelayedConnection dialer = await source.Transport.DialAsync(CircuitAddressOf(target)).Within();
        RelayedConnection? accepted = await accept.Within();
        accepted.Should().NotBeNull();
        return (dialer, accepted!);
    }

    /// <summary>
    /// Closes every connection of <paramref name="node"/> to <paramref name="peer"/> and returns once the node's host
    /// has forgotten them (<see cref="ILibp2pHost.ConnectionClosed"/> raised), as a disconnect that is over.
    /// </summary>
    public static async Task DisconnectAsync(TestNode node, PeerId peer)
    {
        foreach (ConnectionInfo connection in node.Host.GetConnections(peer))
        {
            await node.Host.CloseAsync(connection).Within();
        }
    }

    /// <summary>
    /// Waits until Identify ran both ways between <paramref name="node"/> and the relay (each host stored the other's
    /// record). Identify starts on every new connection and arms its own timeout timers: a test that counts the clock's
    /// timers waits for it first.
    /// </summary>
    public Task IdentifiedWithRelayAsync(TestNode node) => Task.WhenAll(
        IdentifiedAsync(node.Host, RelayId),
        IdentifiedAsync(RelayHost, node.Id));

    /// <remarks>
    /// Each step is bounded like every other await of the tests (xunit gives disposal no timeout): a step that hangs
    /// fails the test with a <see cref="TimeoutException"/> instead of hanging the run, and the steps after it still
    /// run, so the hosts' shutdown ends whatever the stuck step was waiting for.
    /// </remarks>
    public async ValueTask DisposeAsync()
    {
        var failures = new List<Exception>();
        for (int i = _owned.Count - 1; i >= 0; i--)
        {
            await DisposeBoundedAsync(_owned[i], failures);
        }

        await DisposeBoundedAsync(Server, failures);
        for (int i = _hosts.Count - 1; i >= 0; i--)
        {
            await DisposeBoundedAsync(_hosts[i], failures);
        }

        Network.Dispose();
        foreach (KeyIdentity identity in _identities)
        {
            identity.Dispose();
        }

        Meters.Dispose();
        Logs.Dispose();
        if (failures.Count > 0)
        {
            throw new AggregateException("Disposing the relay fixture failed (a step that timed out hung).", failures);
        }
    }

    private static async Task DisposeBoundedAsync(IAsyncDisposable disposable, List<Exception> failures)
    {
        try
        {
            await disposable.DisposeAsync().Within();
        }
        catch (Exception ex)
        {
            failures.Add(ex);
        }
    }

    /// <summary>Dials <paramref name="peer"/> from <paramref name="node"/> and waits until Identify told the node that the peer speaks <paramref name="protocol"/>.</summary>
    public static async Task DialAndIdentifyAsync(TestNode node, TestNode peer, string protocol)
    {
        var identified = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        void OnIdentified(object? sender, PeerIdentifiedEventArgs e)
        {
            if (e.Record.Peer == peer.Id && e.Record.Supports(protocol))
            {
                identified.TrySetResult();
            }
        }

        node.Host.PeerIdentified += OnIdentified;
        try
        {
            await node.Host.DialAsync(peer.Address).Within();
            await identified.Task.Within();
        }
        finally
        {
            node.Host.PeerIdentified -= OnIdentified;
        }
    }

    private static async Task IdentifiedAsync(Libp2pHost host, PeerId peer)
    {
        var identified = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        void OnIdentified(object? sender, PeerIdentifiedEventArgs e)
        {
            if (e.Record.Peer == peer)
            {
                identified.TrySetResult();
            }
        }

        host.PeerIdentified += OnIdentified;
        try
        {
            if (host.GetPeer(peer) is null)
            {
                await identified.Task.Within();
            }
        }
        finally
        {
            host.PeerIdentified -= OnIdentified;
        }
    }

    private Libp2pHost StartHost(MemoryTransport transport)
    {
        var identity = KeyIdentity.Generate();
        _identities.Add(identity);
        var options = new Libp2pHostOptions
        {
            // The fixture's clock only moves when a test advances it, often by minutes or hours (TTLs, renewals,
            // timeouts of the relay). The host's own deadlines would then fire whenever a test crosses them, in the
            // middle of an unrelated flow: keep-alive pings and the idle sweep off, and the handshake, dial and stream-negotiation
            // deadlines far beyond any test's total advance (30 days; the CancellationTokenSource limit is ~49 days).
            // Every handshake and negotiation completes without the clock moving, so no test relies on them.
            KeepAliveInterval = null,
            InboundIdleTimeout = null,
            HandshakeTimeout = HostDeadline,
            DialTimeout = HostDeadline,
            StreamNegotiationTimeout = HostDeadline,
        };
        options.Transports.Add(transport);
        foreach (IPAddress ip in transport.Addresses)
        {
            options.ListenAddresses.Add($"/ip4/{ip}/tcp/{ListenPort}");
        }

        // Over the memory transport binding is synchronous, so the start completes before it returns; the wait only
        // guards against a change there (bounded, never a hang).
        Task<Libp2pHost> start = Libp2pHost.StartAsync(identity, options, NullLoggerFactory.Instance, Time);
        Libp2pHost host = start.IsCompletedSuccessfully ? start.Result : start.WaitAsync(Bounded.Timeout).GetAwaiter().GetResult();
        _hosts.Add(host);
        return host;
    }

}
