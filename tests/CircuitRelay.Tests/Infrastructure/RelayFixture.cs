using CircuitRelay.Client;
using CircuitRelay.Crypto;
using CircuitRelay.InMemory;
using CircuitRelay.Server;
using CircuitRelay.Transport;
using Microsoft.Extensions.Logging.Abstractions;

namespace CircuitRelay.Tests.Infrastructure;

/// <summary>A node of a test network: an in-memory host with a started relay client and the circuit transport.</summary>
public sealed class TestNode
{
    public required InMemoryHost Host { get; init; }

    public required RelayClient Client { get; init; }

    public required CircuitTransport Transport { get; init; }

    public PeerId Id => Host.Identity.PeerId;
}

/// <summary>
/// A relay (host + <see cref="RelayServer"/>) on an in-memory network with a manual clock, and a
/// factory for client nodes. One fixture per test.
/// </summary>
public sealed class RelayFixture : IAsyncDisposable
{
    private readonly List<IAsyncDisposable> _owned = [];

    private RelayFixture(RelayServerOptions serverOptions, RelayClientOptions clientOptions)
    {
        ClientOptions = clientOptions;
        Network = new InMemoryNetwork(Time);
        RelayHost = Network.CreateHost(KeyIdentity.Generate(), SignatureVerifier.Default, "198.51.100.1");
        Server = new RelayServer(RelayHost, serverOptions, NullLoggerFactory.Instance, Meters, Time);
        Server.CircuitClosed += (_, e) => _closedCircuits.Writer.TryWrite(e);
        Server.Start();
    }

    private readonly System.Threading.Channels.Channel<RelayCircuitEventArgs> _closedCircuits = System.Threading.Channels.Channel.CreateUnbounded<RelayCircuitEventArgs>();

    /// <summary>The next circuit-closed event of the relay (events are queued from the start).</summary>
    public Task<RelayCircuitEventArgs> NextClosedCircuitAsync() => _closedCircuits.Reader.ReadAsync().Within();

    public ManualTimeProvider Time { get; } = new();

    public TestMeterFactory Meters { get; } = new();

    public InMemoryNetwork Network { get; }

    public InMemoryHost RelayHost { get; }

    public RelayServer Server { get; }

    public RelayClientOptions ClientOptions { get; }

    public PeerId RelayId => RelayHost.Identity.PeerId;

    /// <summary><c>/ip4/…/tcp/…/p2p/&lt;relay&gt;</c>.</summary>
    public Multiaddr RelayAddress => RelayHost.Addresses[0].WithPeerId(RelayId);

    /// <summary><c>/ip4/…/tcp/…/p2p/&lt;relay&gt;/p2p-circuit</c>.</summary>
    public Multiaddr RelayCircuitAddress => RelayAddress.Encapsulate("/p2p-circuit");

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

    public TestNode CreateNode(string? ip = null)
    {
        InMemoryHost host = Network.CreateHost(KeyIdentity.Generate(), SignatureVerifier.Default, ip);
        var client = new RelayClient(host, ClientOptions, NullLoggerFactory.Instance, Meters, Time);
        client.Start();
        _owned.Add(client);
        return new TestNode { Host = host, Client = client, Transport = new CircuitTransport(client) };
    }

    /// <summary>A node listening through the relay.</summary>
    public async Task<(TestNode Node, CircuitListener Listener)> CreateListenerAsync(string? ip = null)
    {
        TestNode node = CreateNode(ip);
        CircuitListener listener = await node.Transport.ListenAsync(RelayCircuitAddress).Within();
        _owned.Add(listener);
        return (node, listener);
    }

    public Multiaddr CircuitAddressOf(TestNode target) => Multiaddr.CreateCircuit(RelayHost.Addresses[0], RelayId, target.Id);

    /// <summary>Dials <paramref name="target"/> from <paramref name="source"/> and accepts on <paramref name="listener"/>.</summary>
    public async Task<(RelayedConnection Dialer, RelayedConnection Listener)> ConnectAsync(TestNode source, TestNode target, CircuitListener listener)
    {
        Task<RelayedConnection?> accept = listener.AcceptAsync().AsTask();
        RelayedConnection dialer = await source.Transport.DialAsync(CircuitAddressOf(target)).Within();
        RelayedConnection? accepted = await accept.Within();
        accepted.Should().NotBeNull();
        return (dialer, accepted!);
    }

    public async ValueTask DisposeAsync()
    {
        for (int i = _owned.Count - 1; i >= 0; i--)
        {
            await _owned[i].DisposeAsync();
        }

        await Server.DisposeAsync();
        await Network.DisposeAsync();
        Meters.Dispose();
    }
}
