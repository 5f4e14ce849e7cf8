using System.Net;
using CircuitRelay.Abstractions;
using CircuitRelay.Client;
using CircuitRelay.Crypto;
using CircuitRelay.ReferenceHost.Transports.Memory;
using CircuitRelay.Server;
using Microsoft.Extensions.Logging.Abstractions;

namespace CircuitRelay.Protocols.Tests.Identify;

/// <summary>
/// Reference hosts on one memory network, disposed with it (shared by the Identify and Ping tests). A relay (a
/// reference host with a <see cref="RelayServer"/> at 10.250.0.1) is started when a test asks for a relayed connection.
/// </summary>
internal sealed class ServiceTestNetwork : IAsyncDisposable
{
    private readonly List<KeyIdentity> _identities = [];
    private readonly List<IAsyncDisposable> _services = [];
    private readonly List<Libp2pHost> _hosts = [];
    private readonly Dictionary<Libp2pHost, RelayClient> _clients = [];
    private int _nextAutomatic = 1;
    private Libp2pHost? _relay;
    private RelayServer? _relayServer;

    public MemoryNetwork Network { get; } = new();

    /// <summary>A host on the public side of the network, listening on <c>/ip4/&lt;ip&gt;/tcp/4001</c> (10.0.9.x unless given).</summary>
    public Libp2pHost CreateHost(string? ip = null)
    {
        var identity = KeyIdentity.Generate();
        _identities.Add(identity);
        string address = ip ?? $"10.0.9.{_nextAutomatic++}";
        var options = new Libp2pHostOptions { KeepAliveInterval = null };
        options.Transports.Add(Network.AddNode(IPAddress.Parse(address)));
        options.ListenAddresses.Add($"/ip4/{address}/tcp/4001");

        // Binding a memory listener is synchronous, so the start has completed when it returns.
        Task<Libp2pHost> start = Libp2pHost.StartAsync(identity, options, NullLoggerFactory.Instance);
        Libp2pHost host = start.IsCompletedSuccessfully ? start.Result : start.WaitAsync(Bounded.Timeout).GetAwaiter().GetResult();
        _hosts.Add(host);
        return host;
    }

    /// <summary>Registers a service to dispose before the hosts.</summary>
    public T Track<T>(T service)
        where T : IAsyncDisposable
    {
        _services.Add(service);
        return service;
    }

    /// <summary>
    /// Connects <paramref name="dialer"/> to <paramref name="listener"/> directly and returns once both hosts have the
    /// connection (the dial returns when the dialer's side is upgraded; the listener's side finishes a moment later).
    /// </summary>
    public static async Task<ConnectionInfo> ConnectAsync(Libp2pHost dialer, Libp2pHost listener)
    {
        PeerId dialerId = dialer.Identity.PeerId;
        var opened = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        void OnOpened(object? sender, ConnectionEventArgs e)
        {
            if (e.Connection.RemotePeer == dialerId)
            {
                opened.TrySetResult();
            }
        }

        listener.ConnectionOpened += OnOpened;
        try
        {
            ConnectionInfo connection = await dialer.DialAsync(listener.ListenAddresses[0].WithPeerId(listener.Identity.PeerId)).Within();
            if (listener.GetConnections(dialerId).Count == 0)
            {
                await opened.Task.Within();
            }

            return connection;
        }
        finally
        {
            listener.ConnectionOpened -= OnOpened;
        }
    }

    /// <summary>
    /// Connects <paramref name="dialer"/> to <paramref name="listener"/> over a limited relayed connection: the listener's
    /// host listens through the relay, the dialer's host dials the circuit, and both upgrade it (Noise + Yamux).
    /// </summary>
    public async Task<RelayedConnection> ConnectRelayedAsync(Libp2pHost dialer, Libp2pHost listener)
    {
        Libp2pHost relay = StartRelay();
        Multiaddr relayAddress = relay.ListenAddresses[0].WithPeerId(relay.Identity.PeerId);
        var inbound = new TaskCompletionSource<ConnectionInfo>(TaskCreationOptions.RunContinuationsAsynchronously);
        listener.ConnectionOpened += (_, e) =>
        {
            if (e.Connection.IsRelayed && e.Connection.RemotePeer == dialer.Identity.PeerId)
            {
                inbound.TrySetResult(e.Connection);
            }
        };
        AddCircuitTransport(listener);
        AddCircuitTransport(dialer);
        await listener.ListenAsync(relayAddress.Encapsulate("/p2p-circuit")).Within();

        // A new connection even when a direct one exists (DialAsync would reuse it).
        ConnectionInfo atDialer = await dialer.DialAsync(Multiaddr.CreateCircuit(relay.ListenAddresses[0], relay.Identity.PeerId, listener.Identity.PeerId), new DialOptions { ForceNewConnection = true }).Within();
        ConnectionInfo atListener = await inbound.Task.Within();
        return new RelayedConnection(atDialer, atListener, dialer);
    }

    public async ValueTask DisposeAsync()
    {
        foreach (IAsyncDisposable service in _services)
        {
            await service.DisposeAsync();
        }

        foreach (RelayClient client in _clients.Values)
        {
            await client.DisposeAsync();
        }

        if (_relayServer is not null)
        {
            await _relayServer.DisposeAsync();
        }

        foreach (Libp2pHost host in _hosts)
        {
            await host.DisposeAsync();
        }

        Network.Dispose();
        foreach (KeyIdentity identity in _identities)
        {
            identity.Dispose();
        }
    }

    private Libp2pHost StartRelay()
    {
        if (_relay is null)
        {
            _relay = CreateHost("10.250.0.1");
            _relayServer = new RelayServer(_relay, new RelayServerOptions(), NullLoggerFactory.Instance, new TestMeterFactory(), TimeProvider.System);
            _relayServer.Start();
        }

        return _relay;
    }

    private void AddCircuitTransport(Libp2pHost host)
    {
        if (!_clients.ContainsKey(host))
        {
            var client = new RelayClient(host, new RelayClientOptions(), NullLoggerFactory.Instance, new TestMeterFactory(), TimeProvider.System);
            client.Start();
            _clients.Add(host, client);
            host.AddTransport(new CircuitRelay.Transport.CircuitTransport(client));
        }
    }
}

/// <summary>Both ends of a relayed connection between two reference hosts.</summary>
/// <param name="AtDialer">The dialer's description.</param>
/// <param name="AtListener">The listener's description.</param>
/// <param name="Dialer">The dialer's host.</param>
internal sealed record RelayedConnection(ConnectionInfo AtDialer, ConnectionInfo AtListener, Libp2pHost Dialer)
{
    /// <summary>Closes just this connection (the circuit is reset, both hosts raise ConnectionClosed).</summary>
    public Task Sever() => Dialer.CloseAsync(AtDialer).AsTask();
}

/// <summary>The host vocabulary the Identify and Ping tests use (peer id, listen address, dial address).</summary>
internal static class ServiceTestHosts
{
    extension(Libp2pHost host)
    {
        /// <summary>The host's peer id.</summary>
        public PeerId PeerId => host.Identity.PeerId;

        /// <summary>The host's <c>/ip4/…/tcp/4001</c> listen address.</summary>
        public Multiaddr ListenAddress => host.ListenAddresses[0];

        /// <summary>The listen address with <c>/p2p/&lt;id&gt;</c>: what others dial.</summary>
        public Multiaddr DialAddress => host.ListenAddresses[0].WithPeerId(host.Identity.PeerId);
    }

    /// <summary>Refuses every inbound connection before its handshake (a node others cannot dial).</summary>
    public static IDisposable RefuseInboundConnections(this Libp2pHost host) => host.AddGate(new RefuseConnections());

    private sealed class RefuseConnections : IInboundGate
    {
        public InboundDecision Check(InboundAttempt attempt)
            => attempt.Stage == InboundStage.Connection && !attempt.IsRelayed ? InboundDecision.Deny("test-no-inbound") : InboundDecision.Allow;
    }
}
