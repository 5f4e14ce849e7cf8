using System.Collections.Concurrent;
using CircuitRelay.Crypto;
using CircuitRelay.Abstractions;
using CircuitRelay.Internal;
using CircuitRelay.ReferenceHost.Multistream;
using CircuitRelay.ReferenceHost.Transports.Tcp;
using CircuitRelay.ReferenceHost.Yamux;
using Microsoft.Extensions.Logging;

namespace CircuitRelay.ReferenceHost;

/// <summary>
/// A small libp2p host: multistream-select 1.0, Noise XX and Yamux over any <see cref="ITransport"/> (TCP by default;
/// add the <c>/p2p-circuit</c> transport with <see cref="AddTransport"/>). It implements <see cref="ILibp2pHost"/>, so
/// CircuitRelay's server and client run on it, and every feature interface (<see cref="IDialFeature"/>,
/// <see cref="IListenFeature"/>, <see cref="IAddressesFeature"/>, <see cref="IPeerStoreFeature"/>,
/// <see cref="IInboundGateFeature"/>, <see cref="IConnectionsFeature"/>, <see cref="IPingFeature"/>). Whatever a transport yields, relayed or not,
/// is upgraded the same way.
/// </summary>
public sealed partial class Libp2pHost
    : ILibp2pHost, IDialFeature, IListenFeature, IAddressesFeature, IPeerStoreFeature, IInboundGateFeature, IConnectionsFeature, IPingFeature, IAsyncDisposable
{
    /// <summary>The muxer this host speaks.</summary>
    public const string YamuxProtocol = "/yamux/1.0.0";

    private static readonly DialOptions DefaultDial = new();

    private readonly Libp2pHostOptions _options;
    private readonly ILogger _logger;
    private readonly ILoggerFactory _loggerFactory;
    private readonly TimeProvider _time;
    private readonly ICurve25519 _curve;
    private readonly ConcurrentDictionary<string, (StreamHandler Handler, StreamHandlerOptions Options)> _handlers = new(StringComparer.Ordinal);
    private readonly Lock _lock = new();
    private readonly List<ITransport> _transports;
    private readonly List<HostConnection> _connections = [];
    private readonly TaskTracker _background = new();
    private readonly Dictionary<(PeerId Peer, bool Relayed), Task<ConnectionInfo>> _pendingDials = [];
    private readonly CancellationTokenSource _shutdown = new();
    private long _nextConnectionId;
    private int _inboundConnections;
    private int _disposed;

    private Libp2pHost(ILocalIdentity identity, ISignatureVerifier verifier, Libp2pHostOptions options, IReadOnlyList<ITransport> transports, ILoggerFactory loggerFactory, TimeProvider time)
    {
        Identity = identity;
        SignatureVerifier = verifier;
        _options = options;
        _transports = [.. transports];
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

    /// <summary>The transports the host dials and listens through, in the order it asks them.</summary>
    public IReadOnlyList<ITransport> Transports
    {
        get
        {
            lock (_lock)
            {
                return [.. _transports];
            }
        }
    }

    /// <summary>Starts a host: binds the listen addresses and starts accepting connections.</summary>
    /// <param name="identity">The node's identity (see <see cref="KeyIdentity"/>).</param>
    /// <param name="options">Transports, listen addresses, timeouts.</param>
    /// <param name="loggerFactory">Where logs go.</param>
    /// <param name="timeProvider">The clock for timeouts (default: the system clock).</param>
    /// <param name="cancellationToken">Cancels the start.</param>
    /// <exception cref="ArgumentException">An option is invalid, or no transport can listen on a listen address.</exception>
    /// <exception cref="IOException">A listen address cannot be bound.</exception>
    public static async Task<Libp2pHost> StartAsync(ILocalIdentity identity, Libp2pHostOptions options, ILoggerFactory loggerFactory, TimeProvider? timeProvider = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(identity);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(loggerFactory);
        options.Validate();
        cancellationToken.ThrowIfCancellationRequested();
        IReadOnlyList<ITransport> transports = options.Transports.Count == 0 ? [new TcpTransport()] : [.. options.Transports];
        var host = new Libp2pHost(identity, Crypto.SignatureVerifier.Default, options, transports, loggerFactory, timeProvider ?? TimeProvider.System);
        try
        {
            host.StartServices();
            host.StartIdleSweep();
            foreach (string address in options.ListenAddresses)
            {
                await host.ListenAsync(Multiaddr.Parse(address), cancellationToken).ConfigureAwait(false);
            }
        }
        catch
        {
            await host.DisposeAsync().ConfigureAwait(false);
            throw;
        }

        return host;
    }

    /// <inheritdoc />
    /// <remarks>The host provides every feature interface itself; this makes the lookup callable on the class too.</remarks>
    public TFeature? GetFeature<TFeature>()
        where TFeature : class => this as TFeature;

    /// <summary>
    /// Adds a transport created after the host (the <c>/p2p-circuit</c> transport needs a <c>RelayClient</c> that
    /// needs the host). It is asked after the transports already there; adding one twice does nothing.
    /// </summary>
    public void AddTransport(ITransport transport)
    {
        ArgumentNullException.ThrowIfNull(transport);
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        lock (_lock)
        {
            if (!_transports.Contains(transport))
            {
                _transports.Add(transport);
            }
        }
    }

    /// <inheritdoc />
    /// <remarks>
    /// The address must name the peer: <c>…/p2p/&lt;id&gt;</c>, or <c>…/p2p-circuit/p2p/&lt;id&gt;</c>; the connection
    /// must authenticate as that peer. An existing connection is reused unless it is limited and the address is
    /// direct. <see cref="DialOptions.Role"/> fixes the handshake roles on this side only: the other side must take
    /// the opposite one (a transport that yields a simultaneous open says so with an outbound connection on both ends).
    /// The transport's dial runs under <see cref="Libp2pHostOptions.DialTimeout"/>, the upgrade under
    /// <see cref="Libp2pHostOptions.HandshakeTimeout"/>.
    /// </remarks>
    public async ValueTask<ConnectionInfo> DialAsync(Multiaddr address, DialOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(address);
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        options ??= DefaultDial;
        PeerId? expected = address.IsRelayed
            ? (address.TrySplitCircuit(out _, out _, out PeerId? target) ? target : null)
            : address.GetPeerId();
        if (expected is null && options.AllowUnknownPeer && !address.IsRelayed)
        {
            ConnectionInfo probed = await DialNewAsync(address, expected: null, options, cancellationToken).ConfigureAwait(false);
            if (probed.RemotePeer == Identity.PeerId)
            {
                await CloseAsync(probed).ConfigureAwait(false);
                throw new IOException($"Cannot dial '{address}': it is this host itself.");
            }

            return probed;
        }

        if (expected is null)
        {
            throw new ArgumentException($"'{address}' does not name the peer (/p2p/<id>).", nameof(address));
        }

        if (expected == Identity.PeerId)
        {
            throw new IOException($"Cannot dial '{address}': it names this host itself.");
        }

        if (options.ForceNewConnection)
        {
            return await DialNewAsync(address, expected, options, cancellationToken).ConfigureAwait(false);
        }

        if (FindConnection(expected, allowLimited: address.IsRelayed) is { } existing)
        {
            return existing.Info;
        }

        // Concurrent dials to one peer (direct or relayed) share one connection attempt, as go's swarm does.
        var key = (expected, address.IsRelayed);
        TaskCompletionSource<ConnectionInfo>? mine = null;
        Task<ConnectionInfo>? pending;
        lock (_lock)
        {
            if (!_pendingDials.TryGetValue(key, out pending))
            {
                mine = new TaskCompletionSource<ConnectionInfo>(TaskCreationOptions.RunContinuationsAsynchronously);
                _pendingDials[key] = mine.Task;
            }
        }

        if (mine is null)
        {
            return await pending!.WaitAsync(cancellationToken).ConfigureAwait(false);
        }

        try
        {
            ConnectionInfo connection = await DialNewAsync(address, expected, options, cancellationToken).ConfigureAwait(false);
            mine.SetResult(connection);
            return connection;
        }
        catch (Exception ex)
        {
            mine.SetException(ex);
            _ = mine.Task.Exception; // observed here: waiters, if any, see it too
            throw;
        }
        finally
        {
            lock (_lock)
            {
                _pendingDials.Remove(key);
            }
        }
    }

    /// <summary>Dials through the first transport that can, then upgrades: always a new connection.</summary>
    private async Task<ConnectionInfo> DialNewAsync(Multiaddr address, PeerId? expected, DialOptions options, CancellationToken cancellationToken)
    {
        ITransport transport = FindTransport(t => t.CanDial(address))
            ?? throw new IOException($"No transport of this host can dial '{address}' (transports: {TransportNames()}).");
        ITransportConnection raw;
        using (var deadline = new CancellationTokenSource(_options.DialTimeout, _time))
        using (var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _shutdown.Token, deadline.Token))
        {
            try
            {
                raw = await transport.DialAsync(address, new TransportDialOptions { ReuseListenPort = options.ReuseListenPort }, timeout.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException ex) when (deadline.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
            {
                throw new TimeoutException($"Dialing {address} ({transport.Name}) timed out after {_options.DialTimeout.TotalSeconds} s.", ex);
            }
        }

        UpgradeRole role = options.Role ?? (raw.Direction == ConnectionDirection.Outbound ? UpgradeRole.Initiator : UpgradeRole.Responder);
        HostConnection connection = await UpgradeAsync(raw, role, expected, accepted: false, countsInbound: false, cancellationToken).ConfigureAwait(false);
        return connection.Info;
    }

    /// <inheritdoc />
    public async ValueTask<ILibp2pStream> OpenStreamAsync(PeerId peer, string protocol, OpenStreamOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(peer);
        ArgumentException.ThrowIfNullOrEmpty(protocol);
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        options ??= new OpenStreamOptions();
        HostConnection? connection = options.Connection is { } only ? (Find(only) is { } found && found.Info.RemotePeer == peer ? found : null) : FindConnection(peer, options.AllowLimitedConnection);
        if (connection is null)
        {
            if (options.ExistingConnectionOnly || options.Connection is not null)
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

    /// <summary>Closes every connection to <paramref name="peer"/>; returns once each is forgotten and <see cref="ConnectionClosed"/> was raised.</summary>
    public async Task DisconnectAsync(PeerId peer)
    {
        HostConnection[] connections;
        lock (_lock)
        {
            connections = [.. _connections.Where(c => c.Info.RemotePeer == peer)];
        }

        foreach (HostConnection connection in connections)
        {
            // As IConnectionsFeature.CloseAsync: returns once the connection is forgotten and ConnectionClosed raised.
            await CloseAsync(connection.Info).ConfigureAwait(false);
        }
    }

    /// <summary>Stops the services, the listeners (including those returned by <see cref="ListenAsync"/>) and every connection.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await StopServicesAsync().ConfigureAwait(false);
        if (_idleSweep is not null)
        {
            await _idleSweep.DisposeAsync().ConfigureAwait(false);
        }

        // Relayed connections first, in order, while the connections to their relays still run: closing those first
        // (the shutdown below ends every connection at once) would reset the circuits instead of closing them.
        HostConnection[] relayed;
        lock (_lock)
        {
            relayed = [.. _connections.Where(c => c.Info.IsRelayed)];
        }

        await Task.WhenAll(relayed.Select(c => c.CloseAsync().AsTask())).ConfigureAwait(false);
        await _shutdown.CancelAsync().ConfigureAwait(false);
        ListenerEntry[] listeners;
        HostConnection[] connections;
        lock (_lock)
        {
            listeners = [.. _listeners];
        }

        foreach (ListenerEntry entry in listeners)
        {
            await entry.Listener.DisposeAsync().ConfigureAwait(false);
        }

        lock (_lock)
        {
            connections = [.. _connections];
        }

        foreach (HostConnection connection in connections)
        {
            await connection.CloseAsync().ConfigureAwait(false);
        }

        await _background.WhenAllAsync().ConfigureAwait(false);
        _shutdown.Dispose();
    }

    private ITransport? FindTransport(Func<ITransport, bool> accepts)
    {
        lock (_lock)
        {
            return _transports.FirstOrDefault(accepts);
        }
    }

    private string TransportNames()
    {
        lock (_lock)
        {
            return string.Join(", ", _transports.Select(t => t.Name));
        }
    }
}
