using CircuitRelay.Internal;
using System.Collections.Concurrent;
using System.IO.Pipelines;
using System.Net;
using System.Text;
using CircuitRelay.Abstractions;
using CircuitRelay.InMemory.Muxing;

namespace CircuitRelay.InMemory;

/// <summary>
/// A libp2p host that lives in an <see cref="InMemoryNetwork"/>: direct connections to the other hosts
/// of the network are pairs of in-memory pipes, and any raw duplex byte pipe (for example a relayed
/// connection) can be upgraded into a connection with <see cref="AddConnectionAsync"/>.
/// </summary>
/// <remarks>
/// <para>Every connection, direct or added, runs the same small stream muxer over its raw pipe: a
/// handshake that checks the remote peer id, then streams opened with the protocol id and accepted
/// or refused by the remote (refused when no handler is registered, or when the handler does not
/// accept limited connections and the connection is limited). Each stream has its own 1 MiB credit
/// window, so a stream nobody reads stalls only its sender, never the connection.</para>
/// <para>Stream handlers run on the thread pool and own the streams they are given; an exception from
/// a handler aborts (resets) its stream and is otherwise ignored. <see cref="ConnectionOpened"/> and
/// <see cref="ConnectionClosed"/> are raised synchronously on the connection's reader; subscribers
/// must not block.</para>
/// </remarks>
public sealed class InMemoryHost : ILibp2pHost, IAsyncDisposable
{
    private readonly InMemoryNetwork _network;
    private readonly Lock _sync = new();
    private readonly HashSet<MuxedConnection> _attached = [];
    private readonly List<MuxedConnection> _registered = [];
    private readonly Dictionary<PeerId, TaskCompletionSource<MuxedConnection>> _pendingDials = [];
    private readonly ConcurrentDictionary<string, HandlerRegistration> _handlers = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _shutdown = new();
    private readonly TaskTracker _handlerTasks = new();
    private Multiaddr[] _addresses;
    private bool _disposed;
    private Task? _disposal;

    internal InMemoryHost(InMemoryNetwork network, ILocalIdentity identity, ISignatureVerifier verifier, IPAddress ipAddress, Multiaddr listenAddress)
    {
        _network = network;
        Identity = identity;
        SignatureVerifier = verifier;
        PeerId = identity.PeerId;
        IPAddress = ipAddress;
        ListenAddress = listenAddress;
        _addresses = [listenAddress];
    }

    /// <inheritdoc />
    public event EventHandler<ConnectionEventArgs>? ConnectionOpened;

    /// <inheritdoc />
    public event EventHandler<ConnectionEventArgs>? ConnectionClosed;

    /// <inheritdoc />
    public ILocalIdentity Identity { get; }

    /// <inheritdoc />
    public ISignatureVerifier SignatureVerifier { get; }

    /// <summary>The local peer id (<c>Identity.PeerId</c>).</summary>
    public PeerId PeerId { get; }

    /// <summary>The host's <c>/ip4/&lt;ip&gt;/tcp/&lt;port&gt;</c> listen address in the network.</summary>
    public Multiaddr ListenAddress { get; }

    /// <inheritdoc />
    /// <remarks>The listen address followed by every address added with <see cref="AddAddress"/>.</remarks>
    public IReadOnlyList<Multiaddr> Addresses => Volatile.Read(ref _addresses);

    /// <summary>
    /// Whether other hosts of the network may dial this one directly (default <see langword="true"/>).
    /// Set it to <see langword="false"/> to model a node behind a NAT or firewall: direct dials to it
    /// then fail with an <see cref="IOException"/>, while its own dials and added (e.g. relayed)
    /// connections still work.
    /// </summary>
    public bool AcceptsInboundConnections { get; set; } = true;

    /// <summary>The host's ip address in the network.</summary>
    internal IPAddress IPAddress { get; }

    /// <summary>Connections not yet ended plus handler invocations still running (for tests).</summary>
    internal int PendingTaskCount
    {
        get
        {
            lock (_sync)
            {
                return _attached.Count + _handlerTasks.Count;
            }
        }
    }

    /// <summary>Adds an address (for example a confirmed external or a relayed address) to <see cref="Addresses"/>.</summary>
    /// <param name="address">The address, without a trailing <c>/p2p/&lt;id&gt;</c>.</param>
    public void AddAddress(Multiaddr address)
    {
        ArgumentNullException.ThrowIfNull(address);
        lock (_sync)
        {
            if (!_addresses.Contains(address))
            {
                Volatile.Write(ref _addresses, [.. _addresses, address]);
            }
        }
    }

    /// <summary>
    /// Connects directly to another host of the same network, or returns the existing direct connection.
    /// Both hosts raise <see cref="ConnectionOpened"/> before this completes.
    /// </summary>
    /// <param name="peer">The peer to connect to.</param>
    /// <param name="cancellationToken">Cancels the connection attempt.</param>
    /// <returns>The local description of the connection: its remote address is the peer's listen address.</returns>
    /// <exception cref="IOException">The peer is this host, is not in the network, or does not accept inbound connections.</exception>
    public async ValueTask<ConnectionInfo> ConnectAsync(PeerId peer, CancellationToken cancellationToken = default)
    {
        MuxedConnection connection = await ConnectCoreAsync(peer, cancellationToken).ConfigureAwait(false);
        return connection.Info;
    }

    /// <summary>
    /// Upgrades a raw duplex byte connection (for example a relayed connection from the
    /// <c>/p2p-circuit</c> transport) into a connection of this host, as a real host upgrades a raw
    /// socket. Both ends call this (the dialer with <see cref="ConnectionDirection.Outbound"/>, the
    /// listener with <see cref="ConnectionDirection.Inbound"/>), in any order: the connection is
    /// usable and <see cref="ConnectionOpened"/> raised before this returns, without waiting for the
    /// other end. The remote's handshake is checked when it arrives; if the remote is not
    /// <paramref name="remotePeer"/>, the connection closes (streams fail with <see cref="IOException"/>).
    /// </summary>
    /// <param name="raw">The raw pipe. The host owns it from now on: it completes both sides when the
    /// connection ends (the output with the error, if any) and disposes it if it is <see cref="IAsyncDisposable"/>.</param>
    /// <param name="remotePeer">The expected remote peer.</param>
    /// <param name="remoteAddress">The remote address reported in <see cref="ConnectionInfo.RemoteAddress"/>.</param>
    /// <param name="direction">Which side dialed.</param>
    /// <param name="isRelayed">Whether the connection runs over a relay.</param>
    /// <param name="limit">The relay's limit, or <see langword="null"/> when unlimited.</param>
    /// <param name="cancellationToken">Checked before the upgrade starts.</param>
    /// <returns>The description of the new connection.</returns>
    public ValueTask<ConnectionInfo> AddConnectionAsync(
        IDuplexPipe raw,
        PeerId remotePeer,
        Multiaddr remoteAddress,
        ConnectionDirection direction,
        bool isRelayed,
        RelayLimit? limit,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(raw);
        ArgumentNullException.ThrowIfNull(remotePeer);
        ArgumentNullException.ThrowIfNull(remoteAddress);
        ObjectDisposedException.ThrowIf(IsDisposed, this);
        if (remotePeer.Equals(PeerId))
        {
            throw new ArgumentException("A host cannot connect to itself.", nameof(remotePeer));
        }

        var info = new ConnectionInfo(_network.NextConnectionId(), remotePeer, remoteAddress, direction)
        {
            IsRelayed = isRelayed,
            Limit = limit,
        };
        cancellationToken.ThrowIfCancellationRequested();
        new MuxedConnection(this, raw, info).Start();
        return ValueTask.FromResult(info);
    }

    /// <summary>
    /// Closes every connection to <paramref name="peer"/>: their streams are reset, and both sides raise
    /// <see cref="ConnectionClosed"/> (this side before this completes).
    /// </summary>
    /// <param name="peer">The peer.</param>
    /// <param name="cancellationToken">Stops waiting for the connections to finish closing.</param>
    /// <returns>A task that completes when the connections have ended.</returns>
    public async ValueTask DisconnectAsync(PeerId peer, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(peer);
        MuxedConnection[] connections;
        lock (_sync)
        {
            connections = [.. _attached.Where(c => c.Info.RemotePeer.Equals(peer))];
        }

        await Task.WhenAll(connections.Select(c => c.CloseAsync())).WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    /// <remarks>
    /// Uses a connection to the peer (direct ones first; limited ones only when
    /// <see cref="OpenStreamOptions.AllowLimitedConnection"/>), or else, unless
    /// <see cref="OpenStreamOptions.ExistingConnectionOnly"/>, dials the peer directly in the network
    /// (<see cref="OpenStreamOptions.DialAddresses"/> is not used).
    /// </remarks>
    public async ValueTask<ILibp2pStream> OpenStreamAsync(PeerId peer, string protocol, OpenStreamOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(peer);
        ValidateProtocol(protocol);
        ObjectDisposedException.ThrowIf(IsDisposed, this);
        options ??= new OpenStreamOptions();
        MuxedConnection? connection = SelectConnection(peer, options.AllowLimitedConnection);
        if (connection is null)
        {
            if (options.ExistingConnectionOnly)
            {
                throw new IOException($"No usable connection to {peer}.");
            }

            connection = await ConnectCoreAsync(peer, cancellationToken).ConfigureAwait(false);
        }

        return await connection.OpenStreamAsync(protocol, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public void SetStreamHandler(string protocol, StreamHandler handler, StreamHandlerOptions? options = null)
    {
        ValidateProtocol(protocol);
        ArgumentNullException.ThrowIfNull(handler);
        _handlers[protocol] = new HandlerRegistration(handler, options?.AllowLimitedConnection ?? false);
    }

    /// <inheritdoc />
    public void RemoveStreamHandler(string protocol)
    {
        ArgumentNullException.ThrowIfNull(protocol);
        _handlers.TryRemove(protocol, out _);
    }

    /// <inheritdoc />
    public IReadOnlyList<ConnectionInfo> GetConnections(PeerId peer)
    {
        ArgumentNullException.ThrowIfNull(peer);
        lock (_sync)
        {
            return [.. _registered.Where(c => c.Info.RemotePeer.Equals(peer)).Select(c => c.Info)];
        }
    }

    /// <summary>
    /// Closes every connection (streams are reset, <see cref="ConnectionClosed"/> is raised for each),
    /// signals the handlers' cancellation token, and waits for every connection and every handler
    /// invocation to end. Idempotent.
    /// </summary>
    /// <returns>A task that completes when nothing of the host runs any more.</returns>
    public ValueTask DisposeAsync()
    {
        lock (_sync)
        {
            _disposal ??= DisposeCoreAsync();
            return new ValueTask(_disposal);
        }
    }

    /// <inheritdoc />
    public override string ToString() => $"InMemoryHost {PeerId} {IPAddress}";

    /// <summary>
    /// A connection is starting: make it usable and raise <see cref="ConnectionOpened"/>;
    /// <see langword="false"/> once the host is disposed.
    /// </summary>
    internal bool TryAddConnection(MuxedConnection connection)
    {
        lock (_sync)
        {
            if (_disposed)
            {
                return false;
            }

            _attached.Add(connection);
            _registered.Add(connection);
        }

        Raise(ConnectionOpened, connection.Info);
        return true;
    }

    /// <summary>A connection ended: forget it and raise <see cref="ConnectionClosed"/> if it had opened.</summary>
    internal void OnConnectionClosed(MuxedConnection connection)
    {
        bool wasOpen;
        lock (_sync)
        {
            wasOpen = _registered.Remove(connection);
        }

        if (wasOpen)
        {
            Raise(ConnectionClosed, connection.Info);
        }
    }

    /// <summary>A connection's loops and pumps have all ended.</summary>
    internal void OnConnectionFinished(MuxedConnection connection)
    {
        lock (_sync)
        {
            _attached.Remove(connection);
        }
    }

    /// <summary>Finds the handler for an inbound stream, or why the stream is refused.</summary>
    internal (StreamHandler? Handler, ResetReason Refusal) ResolveHandler(string protocol, ConnectionInfo connection)
    {
        if (!_handlers.TryGetValue(protocol, out HandlerRegistration? registration))
        {
            return (null, ResetReason.ProtocolNotSupported);
        }

        if (connection.IsLimited && !registration.AllowLimitedConnection)
        {
            return (null, ResetReason.LimitedConnection);
        }

        return (registration.Handler, ResetReason.Reset);
    }

    /// <summary>Runs a handler on the thread pool; the handler owns the stream.</summary>
    internal void RunHandler(StreamHandler handler, ILibp2pStream stream)
    {
        CancellationToken shutdown = _shutdown.Token;
        _handlerTasks.TryTrack(Task.Run(() => InvokeHandlerAsync(handler, stream, shutdown)));
    }

    private static async Task InvokeHandlerAsync(StreamHandler handler, ILibp2pStream stream, CancellationToken shutdown)
    {
        try
        {
            await handler(stream, shutdown).ConfigureAwait(false);
        }
        catch (Exception)
        {
            // A failing handler loses its stream, never the host.
            stream.Abort();
        }
    }

    private static void ValidateProtocol(string protocol)
    {
        ArgumentException.ThrowIfNullOrEmpty(protocol);
        if (System.Text.Encoding.UTF8.GetByteCount(protocol) > MuxFrame.MaxProtocolLength)
        {
            throw new ArgumentException("A protocol id is at most 1024 UTF-8 bytes.", nameof(protocol));
        }
    }

    private bool IsDisposed
    {
        get
        {
            lock (_sync)
            {
                return _disposed;
            }
        }
    }

    private void Raise(EventHandler<ConnectionEventArgs>? handler, ConnectionInfo connection)
    {
        if (handler is null)
        {
            return;
        }

        try
        {
            handler(this, new ConnectionEventArgs(connection));
        }
        catch (Exception)
        {
            // A failing subscriber must not break the connection that raised the event.
        }
    }

    private MuxedConnection? SelectConnection(PeerId peer, bool allowLimited)
    {
        lock (_sync)
        {
            return _registered
                .Where(c => c.Info.RemotePeer.Equals(peer) && (allowLimited || !c.Info.IsLimited))
                .OrderBy(c => c.Info.IsRelayed)
                .ThenBy(c => c.Info.IsLimited)
                .FirstOrDefault();
        }
    }

    private async ValueTask<MuxedConnection> ConnectCoreAsync(PeerId peer, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(peer);
        ObjectDisposedException.ThrowIf(IsDisposed, this);
        if (peer.Equals(PeerId))
        {
            throw new IOException("A host cannot dial itself.");
        }

        // Concurrent dials to one peer share a single attempt, so they end up on one connection.
        TaskCompletionSource<MuxedConnection>? ours = null;
        Task<MuxedConnection> dial;
        lock (_sync)
        {
            MuxedConnection? existing = _registered.FirstOrDefault(c => c.Info.RemotePeer.Equals(peer) && !c.Info.IsRelayed);
            if (existing is not null)
            {
                return existing;
            }

            if (_pendingDials.TryGetValue(peer, out TaskCompletionSource<MuxedConnection>? pending))
            {
                dial = pending.Task;
            }
            else
            {
                ours = new TaskCompletionSource<MuxedConnection>(TaskCreationOptions.RunContinuationsAsynchronously);
                _pendingDials.Add(peer, ours);
                dial = ours.Task;
            }
        }

        if (ours is not null)
        {
            // An in-memory dial completes (or fails) promptly, so it runs to its end even if cancelled.
            try
            {
                ours.TrySetResult(await DialAsync(peer).ConfigureAwait(false));
            }
            catch (Exception exception)
            {
                ours.TrySetException(exception);
            }
            finally
            {
                lock (_sync)
                {
                    _pendingDials.Remove(peer);
                }
            }
        }

        return await dial.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    private async Task<MuxedConnection> DialAsync(PeerId peer)
    {
        if (!_network.TryGetHost(peer, out InMemoryHost? target))
        {
            throw new IOException($"Cannot dial {peer}: no host of the network has that peer id.");
        }

        if (!target.AcceptsInboundConnections)
        {
            throw new IOException($"Cannot dial {peer}: the host does not accept inbound connections.");
        }

        Multiaddr dialerAddress = Multiaddr.FromIPEndPoint(new IPEndPoint(IPAddress, _network.NextEphemeralPort()));
        (IDuplexPipe dialerSide, IDuplexPipe listenerSide) = DuplexPipe.CreatePair();
        var outbound = new MuxedConnection(
            this,
            dialerSide,
            new ConnectionInfo(_network.NextConnectionId(), peer, target.ListenAddress, ConnectionDirection.Outbound) { LocalAddress = dialerAddress });
        var inbound = new MuxedConnection(
            target,
            listenerSide,
            new ConnectionInfo(_network.NextConnectionId(), PeerId, dialerAddress, ConnectionDirection.Inbound) { LocalAddress = target.ListenAddress });
        outbound.Start();
        try
        {
            inbound.Start();
        }
        catch (ObjectDisposedException exception)
        {
            await outbound.CloseAsync().ConfigureAwait(false);
            throw new IOException($"Cannot dial {peer}: the host is shutting down.", exception);
        }

        return outbound;
    }

    private async Task DisposeCoreAsync()
    {
        MuxedConnection[] connections;
        lock (_sync)
        {
            _disposed = true;
            connections = [.. _attached];
        }

        _network.Remove(this);
        await _shutdown.CancelAsync().ConfigureAwait(false);
        await Task.WhenAll(connections.Select(c => c.CloseAsync())).ConfigureAwait(false);
        await _handlerTasks.WhenAllAsync().ConfigureAwait(false);
        _shutdown.Dispose();
    }

    private sealed record HandlerRegistration(StreamHandler Handler, bool AllowLimitedConnection);
}
