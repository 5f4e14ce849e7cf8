using System.Collections.Concurrent;
using System.Collections.ObjectModel;
using CircuitRelay.Abstractions;
using Google.Protobuf;
using Microsoft.Extensions.Logging;
using IdentifyMessage = CircuitRelay.Protocols.Identify.Pb.Identify;

namespace CircuitRelay.Protocols.Identify;

/// <summary>
/// Identify (digest section 8) over the host plug-in surface: answers <c>/ipfs/id/1.0.0</c> queries,
/// accepts <c>/ipfs/id/push/1.0.0</c> updates, queries and pushes to peers, and remembers what each
/// connected peer said about itself and how peers observe us.
/// </summary>
/// <remarks>
/// <para>Any host can run it: it talks to the host only through <see cref="ILibp2pHost"/> and two features, both
/// optional today (a later version may require them; a host should provide both): with
/// <see cref="IAddressesFeature"/> it announces the host's listen and external addresses, reports what peers observe
/// (<see cref="IAddressesFeature.ReportObservedAddress"/>) and pushes to connected peers when the announced addresses
/// change; with <see cref="IPeerStoreFeature"/> it stores what each peer said (<see cref="IPeerStoreFeature.UpdatePeer"/>).
/// Without them it announces <see cref="ILibp2pHost.Addresses"/>, never pushes on its own, and what it learns is
/// only returned by <see cref="IdentifyAsync"/>.</para>
/// <para>It does not identify new connections by itself: the host calls <see cref="IdentifyAsync"/> when a
/// connection opens (as go does, and as the reference host does), and <see cref="PushAsync"/> when it wants to
/// push outside address changes.</para>
/// Inbound streams are handled on limited (relayed) connections too. A malformed or oversized inbound
/// message resets its stream and is logged; no exception escapes a handler.
/// </remarks>
public sealed class IdentifyService : IAsyncDisposable
{
    /// <summary>The Identify query protocol id.</summary>
    public const string ProtocolId = "/ipfs/id/1.0.0";

    /// <summary>The Identify push protocol id.</summary>
    public const string PushProtocolId = "/ipfs/id/push/1.0.0";

    /// <summary>The protocol version this node announces when built without options.</summary>
    internal const string LocalProtocolVersion = IdentifyOptions.DefaultProtocolVersion;

    /// <summary>The longest accepted agent version, in UTF-8 bytes.</summary>
    internal const int MaxAgentVersionLength = IdentifyOptions.MaxAgentVersionLength;

    /// <summary>The time allowed for one query, one push, or one inbound stream (10 seconds).</summary>
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

    private static readonly OpenStreamOptions ExistingConnection = new() { ExistingConnectionOnly = true, AllowLimitedConnection = true };
    private static readonly StreamHandlerOptions HandlerOptions = new() { AllowLimitedConnection = true };

    private readonly ILibp2pHost _host;
    private readonly IAddressesFeature? _addresses;
    private readonly IPeerStoreFeature? _peerStore;
    private readonly Func<IReadOnlyCollection<string>> _localProtocols;
    private readonly string _agentVersion;
    private readonly string _protocolVersion;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly ConcurrentDictionary<PeerId, IdentifyInfo> _peers = new();
    private readonly ReadOnlyDictionary<PeerId, IdentifyInfo> _peersView;
    private readonly ConcurrentDictionary<PeerId, byte> _connectedPeers = new();
    private readonly CancellationTokenSource _disposing = new();
    private readonly Lock _sync = new();
    private Multiaddr[] _announced = [];
    private bool _started;
    private bool _disposed;

    /// <summary>Creates the service; call <see cref="Start"/> to register the protocol handlers.</summary>
    /// <param name="host">The host whose streams and connections the service uses; its <see cref="IAddressesFeature"/>
    /// and <see cref="IPeerStoreFeature"/> are used when it provides them.</param>
    /// <param name="options">What this node announces; validated here, and read once (later changes are ignored).</param>
    /// <param name="loggerFactory">Creates the service's logger (category <c>CircuitRelay.Protocols.Identify.IdentifyService</c>).</param>
    /// <param name="timeProvider">The clock for timeouts; <see langword="null"/> for <see cref="TimeProvider.System"/>.</param>
    /// <exception cref="ArgumentNullException"><paramref name="host"/>, <paramref name="options"/> or <paramref name="loggerFactory"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentException">The options are invalid (see <see cref="IdentifyOptions"/>).</exception>
    public IdentifyService(ILibp2pHost host, IdentifyOptions options, ILoggerFactory loggerFactory, TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(host);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(loggerFactory);
        options.Validate();
        Func<IReadOnlyCollection<string>> localProtocols = options.LocalProtocols ?? (static () => [ProtocolId, PushProtocolId]);
        _host = host;
        _addresses = host.GetFeature<IAddressesFeature>();
        _peerStore = host.GetFeature<IPeerStoreFeature>();
        _localProtocols = localProtocols;
        _agentVersion = options.AgentVersion;
        _protocolVersion = options.ProtocolVersion;
        _logger = loggerFactory.CreateLogger<IdentifyService>();
        _time = timeProvider ?? TimeProvider.System;
        _peersView = new ReadOnlyDictionary<PeerId, IdentifyInfo>(_peers);
    }

    /// <summary>Creates the service with a logger of the caller's choice (tests).</summary>
    /// <param name="host">The host whose streams and connections the service uses.</param>
    /// <param name="localProtocols">Returns the protocols this node accepts inbound streams for (asked for every message sent).</param>
    /// <param name="agentVersion">This node's "name/version" (at most <see cref="MaxAgentVersionLength"/> UTF-8 bytes).</param>
    /// <param name="logger">The logger.</param>
    /// <param name="time">The clock for timeouts.</param>
    internal IdentifyService(ILibp2pHost host, Func<IReadOnlyCollection<string>> localProtocols, string agentVersion, ILogger logger, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(host);
        ArgumentNullException.ThrowIfNull(localProtocols);
        ArgumentNullException.ThrowIfNull(agentVersion);
        ArgumentNullException.ThrowIfNull(logger);
        ArgumentNullException.ThrowIfNull(time);
        if (System.Text.Encoding.UTF8.GetByteCount(agentVersion) > MaxAgentVersionLength)
        {
            throw new ArgumentException($"The agent version is longer than {MaxAgentVersionLength} UTF-8 bytes.", nameof(agentVersion));
        }

        _host = host;
        _addresses = host.GetFeature<IAddressesFeature>();
        _peerStore = host.GetFeature<IPeerStoreFeature>();
        _localProtocols = localProtocols;
        _agentVersion = agentVersion;
        _protocolVersion = LocalProtocolVersion;
        _logger = logger;
        _time = time;
        _peersView = new ReadOnlyDictionary<PeerId, IdentifyInfo>(_peers);
    }

    /// <summary>Raised after a peer answered a query or pushed an update (on the thread that received it; do not block).</summary>
    internal event EventHandler<IdentifiedEventArgs>? Identified;

    /// <summary>The latest information of each connected peer that was identified; a peer is forgotten when its last connection closes.</summary>
    internal IReadOnlyDictionary<PeerId, IdentifyInfo> Peers => _peersView;

    /// <summary>
    /// Registers the query and push handlers (limited connections allowed), starts tracking connections and, when
    /// the host provides <see cref="IAddressesFeature"/>, pushes to connected peers whenever its listen or external
    /// addresses change.
    /// </summary>
    /// <exception cref="InvalidOperationException">The service was already started.</exception>
    /// <exception cref="ObjectDisposedException">The service was disposed.</exception>
    public void Start()
    {
        lock (_sync)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_started)
            {
                throw new InvalidOperationException("The Identify service is already started.");
            }

            _started = true;
            _announced = OwnAddresses();
        }

        if (_addresses is not null)
        {
            _addresses.AddressesChanged += OnAddressesChanged;
        }

        _host.ConnectionOpened += OnConnectionOpened;
        _host.ConnectionClosed += OnConnectionClosed;
        _host.SetStreamHandler(ProtocolId, HandleQueryAsync, HandlerOptions);
        _host.SetStreamHandler(PushProtocolId, HandlePushAsync, HandlerOptions);
    }

    /// <summary>
    /// Queries <paramref name="peer"/> over an existing connection (limited ones allowed): reads its
    /// Identify messages until end of stream, merges and validates them, and stores what it learned: the
    /// peer's record in the host's <see cref="IPeerStoreFeature"/> and, over a direct connection, the address the
    /// peer observes us at in its <see cref="IAddressesFeature"/> (each when the host provides it).
    /// </summary>
    /// <param name="peer">The peer to identify.</param>
    /// <param name="cancellationToken">Cancels the query.</param>
    /// <returns>What the peer said about itself.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="peer"/> is <see langword="null"/>.</exception>
    /// <exception cref="ObjectDisposedException">The service was disposed.</exception>
    /// <exception cref="IOException">There is no connection to the peer, it refused the protocol, or the stream failed.</exception>
    /// <exception cref="InvalidDataException">A message is oversized or malformed, or the public key is not the peer's.</exception>
    /// <exception cref="EndOfStreamException">The peer closed the stream before a complete message.</exception>
    /// <exception cref="TimeoutException">The query took longer than <see cref="Timeout"/>.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled or the service disposed.</exception>
    public async Task<IdentifyInfo> IdentifyAsync(PeerId peer, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(peer);
        ThrowIfDisposed();
        using var timeout = new CancellationTokenSource(Timeout, _time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token, _disposing.Token);
        ILibp2pStream? stream = null;
        try
        {
            stream = await _host.OpenStreamAsync(peer, ProtocolId, ExistingConnection, linked.Token).ConfigureAwait(false);
            ConnectionInfo connection = stream.Connection;
            IdentifyMessage message = await IdentifyCodec.ReadMergedAsync(stream.Input, linked.Token).ConfigureAwait(false);
            IdentifyInfo info = IdentifyInfo.FromMessage(message, peer);
            await stream.DisposeAsync().ConfigureAwait(false);
            stream = null;
            Accept(peer, info, connection, isPush: false);
            return info;
        }
        catch (OperationCanceledException ex) when (timeout.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            var timedOut = new TimeoutException($"Identify of {peer} did not complete within {Timeout.TotalSeconds} s.", ex);
            IdentifyLog.IdentifyFailed(_logger, peer, timedOut);
            throw timedOut;
        }
        catch (Exception ex) when (ex is InvalidDataException or EndOfStreamException or IOException)
        {
            IdentifyLog.IdentifyFailed(_logger, peer, ex);
            throw;
        }
        finally
        {
            stream?.Abort();
        }
    }

    /// <summary>
    /// Sends the current information on <c>/ipfs/id/push/1.0.0</c> to every connected peer, over
    /// existing connections (limited ones allowed). Failures for single peers are logged and ignored.
    /// </summary>
    /// <param name="cancellationToken">Cancels the pushes.</param>
    /// <returns>A task that completes when every push ended.</returns>
    /// <exception cref="ObjectDisposedException">The service was disposed.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    public async Task PushAsync(CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        PeerId[] peers = [.. _connectedPeers.Keys.Union(_peers.Keys).Where(peer => _host.GetConnections(peer).Count > 0)];
        await Task.WhenAll(peers.Select(peer => PushToAsync(peer, cancellationToken))).ConfigureAwait(false);
        cancellationToken.ThrowIfCancellationRequested();
    }

    /// <summary>Removes the handlers, stops tracking connections and cancels work in flight. Idempotent.</summary>
    /// <returns>A completed task.</returns>
    public async ValueTask DisposeAsync()
    {
        bool started;
        lock (_sync)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            started = _started;
        }

        if (started)
        {
            _host.RemoveStreamHandler(ProtocolId);
            _host.RemoveStreamHandler(PushProtocolId);
            _host.ConnectionOpened -= OnConnectionOpened;
            _host.ConnectionClosed -= OnConnectionClosed;
            if (_addresses is not null)
            {
                _addresses.AddressesChanged -= OnAddressesChanged;
            }
        }

        await _disposing.CancelAsync().ConfigureAwait(false);
    }

    /// <summary>Builds the message sent on <paramref name="connection"/>, trimmed to <see cref="IdentifyCodec.MaxSendSize"/>.</summary>
    internal IdentifyMessage BuildMessage(ConnectionInfo connection)
    {
        var message = new IdentifyMessage
        {
            ProtocolVersion = _protocolVersion,
            AgentVersion = _agentVersion,
            PublicKey = UnsafeByteOperations.UnsafeWrap(_host.Identity.PublicKey.ToProtobuf()),
            ObservedAddr = UnsafeByteOperations.UnsafeWrap(connection.RemoteAddress.ToByteArray()),
        };

        IReadOnlyCollection<string> protocols = _localProtocols() ?? [];
        foreach (string protocol in protocols.Distinct(StringComparer.Ordinal))
        {
            if (!string.IsNullOrEmpty(protocol))
            {
                message.Protocols.Add(protocol);
            }
        }

        foreach (Multiaddr address in AnnouncedAddresses())
        {
            message.ListenAddrs.Add(UnsafeByteOperations.UnsafeWrap(address.ToByteArray()));
        }

        (int addresses, int dropped) = IdentifyCodec.Trim(message, IdentifyCodec.MaxSendSize);
        if (addresses + dropped > 0)
        {
            IdentifyLog.MessageTrimmed(_logger, IdentifyCodec.MaxSendSize, addresses, dropped);
        }

        return message;
    }

    private async Task HandleQueryAsync(ILibp2pStream stream, CancellationToken cancellationToken)
    {
        ConnectionInfo connection = stream.Connection;
        _connectedPeers.TryAdd(connection.RemotePeer, 0);
        using var timeout = new CancellationTokenSource(Timeout, _time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token, _disposing.Token);
        try
        {
            await IdentifyCodec.WriteAsync(stream.Output, BuildMessage(connection), linked.Token).ConfigureAwait(false);
            await stream.Output.CompleteAsync().ConfigureAwait(false);
            await stream.DisposeAsync().ConfigureAwait(false);
            IdentifyLog.IdentifySent(_logger, ProtocolId, connection.RemotePeer, connection.Id);
        }
        catch (Exception ex)
        {
            IdentifyLog.InboundStreamFailed(_logger, ProtocolId, connection.RemotePeer, ex);
            stream.Abort();
        }
    }

    private async Task HandlePushAsync(ILibp2pStream stream, CancellationToken cancellationToken)
    {
        ConnectionInfo connection = stream.Connection;
        _connectedPeers.TryAdd(connection.RemotePeer, 0);
        using var timeout = new CancellationTokenSource(Timeout, _time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token, _disposing.Token);
        try
        {
            IdentifyMessage message = await IdentifyCodec.ReadMergedAsync(stream.Input, linked.Token).ConfigureAwait(false);
            IdentifyInfo update = IdentifyInfo.FromMessage(message, connection.RemotePeer);
            await stream.DisposeAsync().ConfigureAwait(false);
            Accept(connection.RemotePeer, update, connection, isPush: true);
            IdentifyLog.PushReceived(_logger, connection.RemotePeer, connection.Id);
        }
        catch (Exception ex)
        {
            IdentifyLog.InboundStreamFailed(_logger, PushProtocolId, connection.RemotePeer, ex);
            stream.Abort();
        }
    }

    private async Task PushToAsync(PeerId peer, CancellationToken cancellationToken)
    {
        using var timeout = new CancellationTokenSource(Timeout, _time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token, _disposing.Token);
        ILibp2pStream? stream = null;
        try
        {
            stream = await _host.OpenStreamAsync(peer, PushProtocolId, ExistingConnection, linked.Token).ConfigureAwait(false);
            await IdentifyCodec.WriteAsync(stream.Output, BuildMessage(stream.Connection), linked.Token).ConfigureAwait(false);
            await stream.Output.CompleteAsync().ConfigureAwait(false);
            await stream.DisposeAsync().ConfigureAwait(false);
            IdentifyLog.IdentifySent(_logger, PushProtocolId, peer, stream.Connection.Id);
            stream = null;
        }
        catch (Exception ex)
        {
            IdentifyLog.PushFailed(_logger, peer, ex);
        }
        finally
        {
            stream?.Abort();
        }
    }

    /// <summary>Stores validated information (a query replaces, a push merges), records the observed address, raises the event.</summary>
    private void Accept(PeerId peer, IdentifyInfo info, ConnectionInfo connection, bool isPush)
    {
        IdentifyInfo latest = isPush
            ? _peers.AddOrUpdate(peer, info, (_, known) => known.MergeWith(info))
            : _peers[peer] = info;
        _connectedPeers.TryAdd(peer, 0);
        if (_host.GetConnections(peer).Count == 0)
        {
            // The connection closed while we were reading: do not keep, or tell the host about, a peer that is gone.
            Forget(peer);
            return;
        }

        if (!connection.IsRelayed && info.ObservedAddress is { IsRelayed: false } observed)
        {
            // The host keeps observed addresses (with reporter counts); a host without the feature gets none.
            IdentifyLog.AddressObserved(_logger, peer, observed);
            _addresses?.ReportObservedAddress(peer, observed);
        }

        _peerStore?.UpdatePeer(new PeerRecord(peer, latest.Protocols, latest.ListenAddresses)
        {
            AgentVersion = latest.AgentVersion,
            ProtocolVersion = latest.ProtocolVersion,
        });

        IdentifyLog.PeerIdentified(_logger, peer, connection.Id, latest.AgentVersion, latest.Protocols.Count, latest.ListenAddresses.Count);
        EventHandler<IdentifiedEventArgs>? handler = Identified;
        if (handler is null)
        {
            return;
        }

        try
        {
            handler(this, new IdentifiedEventArgs(peer, latest, connection));
        }
        catch (Exception ex)
        {
            IdentifyLog.SubscriberFailed(_logger, peer, ex);
        }
    }

    /// <summary>The host's own addresses: its listen and external addresses (circuit addresses included), without empty ones.</summary>
    private Multiaddr[] OwnAddresses()
    {
        IEnumerable<Multiaddr> addresses = _addresses is null ? _host.Addresses : _addresses.ListenAddresses.Concat(_addresses.ExternalAddresses);
        return [.. addresses.Where(a => !a.IsEmpty).Distinct()];
    }

    /// <summary>
    /// The addresses put in listenAddrs: the host's own, circuit addresses of live reservations included
    /// (<c>&lt;relay addr&gt;/p2p/&lt;relay&gt;/p2p-circuit</c>, as go-libp2p announces them), so a peer that learns a
    /// private node from Identify can reach it through its relays.
    /// </summary>
    private IEnumerable<Multiaddr> AnnouncedAddresses() => OwnAddresses().OrderBy(a => a.IsRelayed);

    /// <summary>
    /// The host's listen or external addresses changed (a listener opened or closed, an external address came or went;
    /// not an observed address): push to connected peers, in the background.
    /// </summary>
    private void OnAddressesChanged(object? sender, EventArgs e)
    {
        Multiaddr[] now = OwnAddresses();
        lock (_sync)
        {
            if (_disposed || now.SequenceEqual(_announced))
            {
                return;
            }

            _announced = now;
        }

        _ = PushInBackgroundAsync();
    }

    private async Task PushInBackgroundAsync()
    {
        await Task.Yield();
        try
        {
            await PushAsync(_disposing.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException or ObjectDisposedException)
        {
            // Best effort: each peer's failure was logged by PushToAsync.
        }
    }

    private void OnConnectionOpened(object? sender, ConnectionEventArgs e) => _connectedPeers.TryAdd(e.Connection.RemotePeer, 0);

    private void OnConnectionClosed(object? sender, ConnectionEventArgs e)
    {
        PeerId peer = e.Connection.RemotePeer;
        if (_host.GetConnections(peer).Count == 0)
        {
            Forget(peer);
        }
    }

    private void Forget(PeerId peer)
    {
        _connectedPeers.TryRemove(peer, out _);
        if (_peers.TryRemove(peer, out _))
        {
            IdentifyLog.PeerForgotten(_logger, peer);
        }
    }

    private void ThrowIfDisposed()
    {
        lock (_sync)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
        }
    }
}
