using System.Collections.Concurrent;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using CircuitRelay.Crypto;
using CircuitRelay.Abstractions;
using CircuitRelay.ReferenceHost.Multistream;
using CircuitRelay.ReferenceHost.Noise;
using CircuitRelay.ReferenceHost.Tcp;
using CircuitRelay.ReferenceHost.Yamux;
using CircuitRelay.Transport;
using Microsoft.Extensions.Logging;

namespace CircuitRelay.ReferenceHost;

/// <summary>
/// A small libp2p host: TCP, multistream-select 1.0, Noise XX, Yamux. It implements
/// <see cref="ILibp2pHost"/>, so CircuitRelay's server and client run on it, and it upgrades relayed
/// connections with Noise and Yamux exactly like TCP connections (the dialer through the relay is the initiator).
/// </summary>
public sealed partial class Libp2pHost : ILibp2pHost, IAsyncDisposable
{
    /// <summary>The muxer this host speaks.</summary>
    public const string YamuxProtocol = "/yamux/1.0.0";

    private readonly Libp2pHostOptions _options;
    private readonly ILogger _logger;
    private readonly ILoggerFactory _loggerFactory;
    private readonly TimeProvider _time;
    private readonly ICurve25519 _curve;
    private readonly ConcurrentDictionary<string, (StreamHandler Handler, StreamHandlerOptions Options)> _handlers = new(StringComparer.Ordinal);
    private readonly Lock _lock = new();
    private readonly List<HostConnection> _connections = [];
    private readonly List<Socket> _listeners = [];
    private readonly List<Multiaddr> _listenAddresses = [];
    private readonly List<Multiaddr> _externalAddresses = [];
    private readonly HashSet<Task> _background = [];
    private readonly CancellationTokenSource _shutdown = new();
    private CircuitTransport? _circuitTransport;
    private long _nextConnectionId;
    private int _inboundConnections;
    private int _disposed;

    private Libp2pHost(ILocalIdentity identity, ISignatureVerifier verifier, Libp2pHostOptions options, ILoggerFactory loggerFactory, TimeProvider time)
    {
        Identity = identity;
        SignatureVerifier = verifier;
        _options = options;
        _loggerFactory = loggerFactory;
        _logger = loggerFactory.CreateLogger<Libp2pHost>();
        _time = time;
        _curve = Curve25519.Default;
    }

    /// <inheritdoc />
    public event EventHandler<ConnectionEventArgs>? ConnectionOpened;

    /// <inheritdoc />
    public event EventHandler<ConnectionEventArgs>? ConnectionClosed;

    /// <inheritdoc />
    public ILocalIdentity Identity { get; }

    /// <inheritdoc />
    public ISignatureVerifier SignatureVerifier { get; }

    /// <summary>The bound TCP addresses (ports resolved), without <c>/p2p/&lt;id&gt;</c>.</summary>
    public IReadOnlyList<Multiaddr> ListenAddresses
    {
        get
        {
            lock (_lock)
            {
                return [.. _listenAddresses];
            }
        }
    }

    /// <inheritdoc />
    public IReadOnlyList<Multiaddr> Addresses
    {
        get
        {
            lock (_lock)
            {
                return [.. _listenAddresses, .. _externalAddresses];
            }
        }
    }

    /// <summary>Starts a host: binds the listen addresses and starts accepting connections.</summary>
    /// <param name="identity">The node's identity (see <see cref="KeyIdentity"/>).</param>
    /// <param name="options">Listen addresses, timeouts.</param>
    /// <param name="loggerFactory">Where logs go.</param>
    /// <param name="timeProvider">The clock for timeouts (default: the system clock).</param>
    /// <param name="cancellationToken">Cancels the start.</param>
    public static async Task<Libp2pHost> StartAsync(ILocalIdentity identity, Libp2pHostOptions options, ILoggerFactory loggerFactory, TimeProvider? timeProvider = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(identity);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(loggerFactory);
        options.Validate();
        cancellationToken.ThrowIfCancellationRequested();
        var host = new Libp2pHost(identity, Crypto.SignatureVerifier.Default, options, loggerFactory, timeProvider ?? TimeProvider.System);
        try
        {
            host.StartServices();
            foreach (string address in options.ListenAddresses)
            {
                host.Listen(Multiaddr.Parse(address));
            }
        }
        catch
        {
            await host.DisposeAsync().ConfigureAwait(false);
            throw;
        }

        return host;
    }

    /// <summary>Lets the host dial <c>/p2p-circuit</c> addresses through <paramref name="transport"/>.</summary>
    public void UseCircuitTransport(CircuitTransport transport)
    {
        ArgumentNullException.ThrowIfNull(transport);
        _circuitTransport = transport;
    }

    /// <summary>Adds an address other peers can reach us at (e.g. a relay circuit address); Identify announces it.</summary>
    public void AddExternalAddress(Multiaddr address)
    {
        ArgumentNullException.ThrowIfNull(address);
        lock (_lock)
        {
            if (_externalAddresses.Contains(address))
            {
                return;
            }

            _externalAddresses.Add(address);
        }

        PushIdentifyInBackground();
    }

    /// <summary>Removes an address added with <see cref="AddExternalAddress"/>.</summary>
    public void RemoveExternalAddress(Multiaddr address)
    {
        bool removed;
        lock (_lock)
        {
            removed = _externalAddresses.Remove(address);
        }

        if (removed)
        {
            PushIdentifyInBackground();
        }
    }

    /// <summary>
    /// Connects to <paramref name="address"/>: a TCP address ending in <c>/p2p/&lt;id&gt;</c>, or a circuit address
    /// (needs <see cref="UseCircuitTransport"/>). Returns the existing connection when there is one.
    /// </summary>
    public async Task<ConnectionInfo> ConnectAsync(Multiaddr address, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(address);
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        PeerId? expected = address.GetPeerId();
        if (address.IsRelayed)
        {
            CircuitTransport transport = _circuitTransport ?? throw new InvalidOperationException("No circuit transport: call UseCircuitTransport first.");
            RelayedConnection relayed = await transport.DialAsync(address, cancellationToken).ConfigureAwait(false);
            return await UpgradeRelayedAsync(relayed, cancellationToken).ConfigureAwait(false);
        }

        if (expected is null)
        {
            throw new ArgumentException($"'{address}' does not name the peer (/p2p/<id>).", nameof(address));
        }

        HostConnection? existing = FindConnection(expected, allowLimited: false);
        if (existing is not null)
        {
            return existing.Info;
        }

        if (!address.TryGetIPEndPoint(out IPEndPoint? endPoint))
        {
            endPoint = await ResolveAsync(address, cancellationToken).ConfigureAwait(false);
        }

        var socket = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            using var deadline = new CancellationTokenSource(_options.DialTimeout, _time);
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _shutdown.Token, deadline.Token);
            await socket.ConnectAsync(endPoint, timeout.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is SocketException or OperationCanceledException)
        {
            socket.Dispose();
            cancellationToken.ThrowIfCancellationRequested();
            throw new IOException($"Cannot connect to {address}: {(ex is OperationCanceledException ? "timed out" : ex.Message)}", ex);
        }

        var pipe = new SocketPipe(socket);
        Multiaddr remote = Multiaddr.FromIPEndPoint((IPEndPoint)socket.RemoteEndPoint!);
        Multiaddr local = Multiaddr.FromIPEndPoint((IPEndPoint)socket.LocalEndPoint!);
        HostConnection connection = await UpgradeAsync(pipe, pipe, pipe.Abort, initiator: true, expected, remote, local, relayed: false, limit: null, cancellationToken).ConfigureAwait(false);
        return connection.Info;
    }

    /// <summary>
    /// Upgrades a relayed connection (from <see cref="CircuitTransport.DialAsync"/> or
    /// <see cref="CircuitListener.AcceptAsync"/>) with Noise and Yamux and adds it to the host.
    /// </summary>
    public async Task<ConnectionInfo> UpgradeRelayedAsync(RelayedConnection connection, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(connection);
        bool initiator = connection.Direction == ConnectionDirection.Outbound;
        HostConnection upgraded = await UpgradeAsync(
            connection,
            connection,
            connection.Abort,
            initiator,
            initiator ? connection.RemotePeer : null,
            connection.RemoteAddress,
            local: null,
            relayed: true,
            connection.Limit,
            cancellationToken).ConfigureAwait(false);
        if (!initiator && upgraded.Info.RemotePeer != connection.RemotePeer)
        {
            // The relay named one peer, Noise authenticated another: refuse it (circuit-v2.md recommends the check).
            await upgraded.CloseAsync().ConfigureAwait(false);
            throw new IOException($"The relayed peer authenticated as {upgraded.Info.RemotePeer}, not {connection.RemotePeer} as the relay said.");
        }

        return upgraded.Info;
    }

    /// <summary>Accepts relayed connections from <paramref name="listener"/> in the background and upgrades each one.</summary>
    public void AcceptRelayed(CircuitListener listener)
    {
        ArgumentNullException.ThrowIfNull(listener);
        Track(AcceptRelayedLoopAsync(listener));
    }

    /// <inheritdoc />
    public async ValueTask<ILibp2pStream> OpenStreamAsync(PeerId peer, string protocol, OpenStreamOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(peer);
        ArgumentException.ThrowIfNullOrEmpty(protocol);
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        options ??= new OpenStreamOptions();
        HostConnection? connection = FindConnection(peer, options.AllowLimitedConnection);
        if (connection is null)
        {
            if (options.ExistingConnectionOnly)
            {
                throw new IOException($"No usable connection to {peer}.");
            }

            connection = await DialAnyAsync(peer, options, cancellationToken).ConfigureAwait(false);
        }

        YamuxStream stream = await connection.Muxer.OpenStreamAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            using var deadline = new CancellationTokenSource(_options.StreamNegotiationTimeout, _time);
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, deadline.Token);
            await MultistreamSelect.SelectOneAsync(stream, [protocol], timeout.Token).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            stream.Abort();
            cancellationToken.ThrowIfCancellationRequested();
            throw ex as IOException ?? new IOException($"Cannot open {protocol} to {peer}: {ex.Message}", ex);
        }

        return new YamuxLibp2pStream(stream, protocol, connection.Info);
    }

    /// <inheritdoc />
    public void SetStreamHandler(string protocol, StreamHandler handler, StreamHandlerOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(protocol);
        ArgumentNullException.ThrowIfNull(handler);
        _handlers[protocol] = (handler, options ?? new StreamHandlerOptions());
    }

    /// <inheritdoc />
    public void RemoveStreamHandler(string protocol) => _handlers.TryRemove(protocol, out _);

    /// <summary>The protocols with a registered handler.</summary>
    public IReadOnlyCollection<string> Protocols => [.. _handlers.Keys];

    /// <inheritdoc />
    public IReadOnlyList<ConnectionInfo> GetConnections(PeerId peer)
    {
        lock (_lock)
        {
            return [.. _connections.Where(c => c.Info.RemotePeer == peer).Select(c => c.Info)];
        }
    }

    /// <summary>Closes every connection to <paramref name="peer"/>.</summary>
    public async Task DisconnectAsync(PeerId peer)
    {
        HostConnection[] connections;
        lock (_lock)
        {
            connections = [.. _connections.Where(c => c.Info.RemotePeer == peer)];
        }

        foreach (HostConnection connection in connections)
        {
            await connection.CloseAsync().ConfigureAwait(false);
        }
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await StopServicesAsync().ConfigureAwait(false);
        await _shutdown.CancelAsync().ConfigureAwait(false);
        HostConnection[] connections;
        Task[] background;
        lock (_lock)
        {
            foreach (Socket listener in _listeners)
            {
                listener.Dispose();
            }

            connections = [.. _connections];
            background = [.. _background];
        }

        foreach (HostConnection connection in connections)
        {
            await connection.CloseAsync().ConfigureAwait(false);
        }

        await Task.WhenAll(background).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        _shutdown.Dispose();
    }
}
