using System.Collections.Concurrent;
using System.IO.Pipelines;
using CircuitRelay.Abstractions;
using CircuitRelay.Crypto;

namespace CircuitRelay.Tests.Infrastructure;

/// <summary>
/// The smallest thing that is an <see cref="ILibp2pHost"/>: no transport, no security, no muxer. Hosts of one
/// <see cref="SurfaceFakeNetwork"/> "connect" by peer id (a <see cref="ConnectionInfo"/> on each side and the events),
/// and each <see cref="OpenStreamAsync"/> hands the peer's handler one end of a fresh pipe pair. It provides no
/// feature interface. If RelayServer and RelayClient run on this, the core needs nothing beyond the surface.
/// </summary>
public sealed class SurfaceFakeHost : ILibp2pHost, IDisposable
{
    private readonly SurfaceFakeNetwork _network;
    private readonly KeyIdentity _identity = KeyIdentity.Generate();
    private readonly ConcurrentDictionary<string, (StreamHandler Handler, bool AllowLimited)> _handlers = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<PeerId, ConnectionInfo> _connections = new();
    private readonly CancellationTokenSource _shutdown = new();

    internal SurfaceFakeHost(SurfaceFakeNetwork network, Multiaddr address)
    {
        _network = network;
        Addresses = [address];
    }

    public event EventHandler<ConnectionEventArgs>? ConnectionOpened;

    public event EventHandler<ConnectionEventArgs>? ConnectionClosed;

    public ILocalIdentity Identity => _identity;

    public ISignatureVerifier SignatureVerifier => global::CircuitRelay.Crypto.SignatureVerifier.Default;

    public IReadOnlyList<Multiaddr> Addresses { get; }

    public PeerId Id => _identity.PeerId;

    public async ValueTask<ILibp2pStream> OpenStreamAsync(PeerId peer, string protocol, OpenStreamOptions? options = null, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        options ??= new OpenStreamOptions();
        SurfaceFakeHost remote = _network.Find(peer) ?? throw new IOException($"No host {peer}.");
        if (!_connections.TryGetValue(peer, out ConnectionInfo? connection))
        {
            if (options.ExistingConnectionOnly)
            {
                throw new IOException($"No connection to {peer}.");
            }

            connection = Connect(remote);
        }

        if (!remote._handlers.TryGetValue(protocol, out var registration) || !remote._connections.TryGetValue(Id, out ConnectionInfo? atRemote))
        {
            throw new IOException($"{peer} does not serve {protocol}.");
        }

        var toRemote = new Pipe();
        var toLocal = new Pipe();
        var local = new FakeStream(protocol, connection, toLocal.Reader, toRemote.Writer);
        var far = new FakeStream(protocol, atRemote, toRemote.Reader, toLocal.Writer);
        _ = Task.Run(async () =>
        {
            try
            {
                await registration.Handler(far, remote._shutdown.Token);
            }
            catch (Exception)
            {
                far.Abort();
            }
        });
        await Task.Yield();
        return local;
    }

    public void SetStreamHandler(string protocol, StreamHandler handler, StreamHandlerOptions? options = null)
        => _handlers[protocol] = (handler, options?.AllowLimitedConnection ?? false);

    public void RemoveStreamHandler(string protocol) => _handlers.TryRemove(protocol, out _);

    public IReadOnlyList<ConnectionInfo> GetConnections(PeerId peer)
        => _connections.TryGetValue(peer, out ConnectionInfo? connection) ? [connection] : [];

    /// <summary>Ends the "connection" to <paramref name="peer"/>: both sides raise <see cref="ConnectionClosed"/>.</summary>
    public void Disconnect(PeerId peer)
    {
        if (_network.Find(peer) is { } remote)
        {
            remote.Forget(Id);
        }

        Forget(peer);
    }

    public void Dispose()
    {
        _shutdown.Cancel();
        _shutdown.Dispose();
        _identity.Dispose();
    }

    private ConnectionInfo Connect(SurfaceFakeHost remote)
    {
        string id = _network.NextConnectionId();
        var outbound = new ConnectionInfo(id, remote.Id, remote.Addresses[0], ConnectionDirection.Outbound) { LocalAddress = Addresses[0] };
        var inbound = new ConnectionInfo(id, Id, Addresses[0], ConnectionDirection.Inbound) { LocalAddress = remote.Addresses[0] };
        _connections[remote.Id] = outbound;
        remote._connections[Id] = inbound;
        ConnectionOpened?.Invoke(this, new ConnectionEventArgs(outbound));
        remote.ConnectionOpened?.Invoke(remote, new ConnectionEventArgs(inbound));
        return outbound;
    }

    private void Forget(PeerId peer)
    {
        if (_connections.TryRemove(peer, out ConnectionInfo? connection))
        {
            ConnectionClosed?.Invoke(this, new ConnectionEventArgs(connection));
        }
    }

    /// <summary>One end of a pipe pair: completing Output is FIN, Abort fails both directions with an IOException.</summary>
    private sealed class FakeStream(string protocol, ConnectionInfo connection, PipeReader input, PipeWriter output) : ILibp2pStream
    {
        public string Protocol { get; } = protocol;

        public ConnectionInfo Connection { get; } = connection;

        public PipeReader Input { get; } = input;

        public PipeWriter Output { get; } = output;

        public void Abort()
        {
            var reset = new IOException("The stream was reset.");
            Output.Complete(reset);
            Input.Complete(reset);
        }

        public async ValueTask DisposeAsync()
        {
            await Output.CompleteAsync();
            await Input.CompleteAsync();
        }
    }
}

/// <summary>The hosts of a surface fake, found by peer id; each gets 10.9.0.x.</summary>
public sealed class SurfaceFakeNetwork : IDisposable
{
    private readonly ConcurrentDictionary<PeerId, SurfaceFakeHost> _hosts = new();
    private int _next;
    private long _connections;

    public SurfaceFakeHost CreateHost()
    {
        int n = Interlocked.Increment(ref _next);
        var host = new SurfaceFakeHost(this, Multiaddr.Parse($"/ip4/10.9.0.{n}/tcp/4001"));
        _hosts[host.Id] = host;
        return host;
    }

    public void Dispose()
    {
        foreach (SurfaceFakeHost host in _hosts.Values)
        {
            host.Dispose();
        }
    }

    internal SurfaceFakeHost? Find(PeerId peer) => _hosts.GetValueOrDefault(peer);

    internal string NextConnectionId() => "fake-" + Interlocked.Increment(ref _connections);
}
