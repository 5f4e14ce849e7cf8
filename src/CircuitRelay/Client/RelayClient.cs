using System.Diagnostics.Metrics;
using CircuitRelay.Diagnostics;
using CircuitRelay.Abstractions;
using CircuitRelay.Internal;
using CircuitRelay.Protocol;
using CircuitRelay.Transport;
using Microsoft.Extensions.Logging;

namespace CircuitRelay.Client;

/// <summary>
/// The client side of Circuit Relay v2: reserves slots on relays (and keeps them renewed), connects to
/// peers through relays, and answers the relays' stop requests by handing circuits to listeners.
/// </summary>
/// <remarks>
/// Call <see cref="Start"/> to mount <c>/libp2p/circuit/relay/0.2.0/stop</c>. Every host should run a
/// client; only reachable hosts also run a <see cref="Server.RelayServer"/>.
/// </remarks>
public sealed class RelayClient : IAsyncDisposable
{
    private readonly ILibp2pHost _host;
    private readonly Lock _lock = new();
    private readonly Dictionary<PeerId, RelayReservation> _reservations = [];
    private readonly Dictionary<PeerId, CircuitListener> _listeners = [];
    private readonly TaskTracker _running = new();
    private readonly CancellationTokenSource _shutdown = new();
    private int _started;
    private int _disposed;

    /// <summary>Creates a relay client.</summary>
    /// <param name="host">The host to use for streams and identity.</param>
    /// <param name="options">The options; validated now.</param>
    /// <param name="loggerFactory">Where logs go.</param>
    /// <param name="meterFactory">Where metrics go (meter <c>CircuitRelay</c>).</param>
    /// <param name="timeProvider">The clock for renewals and timeouts.</param>
    public RelayClient(ILibp2pHost host, RelayClientOptions options, ILoggerFactory loggerFactory, IMeterFactory meterFactory, TimeProvider timeProvider)
    {
        ArgumentNullException.ThrowIfNull(host);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(loggerFactory);
        ArgumentNullException.ThrowIfNull(meterFactory);
        ArgumentNullException.ThrowIfNull(timeProvider);
        options.Validate();
        _host = host;
        Options = options.Clone();
        Logger = loggerFactory.CreateLogger<RelayClient>();
        Metrics = new RelayClientMetrics(meterFactory);
        Time = timeProvider;
    }

    /// <summary>The host this client runs on.</summary>
    public ILibp2pHost Host => _host;

    /// <summary>The reservations currently held.</summary>
    public IReadOnlyList<RelayReservation> Reservations
    {
        get
        {
            lock (_lock)
            {
                return [.. _reservations.Values];
            }
        }
    }

    internal RelayClientOptions Options { get; }

    internal ILogger Logger { get; }

    internal RelayClientMetrics Metrics { get; }

    internal TimeProvider Time { get; }

    internal CancellationToken ShutdownToken => _shutdown.Token;

    /// <summary>Mounts the stop protocol on the host.</summary>
    public void Start()
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        if (Interlocked.Exchange(ref _started, 1) != 0)
        {
            return;
        }

        _host.ConnectionClosed += OnConnectionClosed;
        _host.SetStreamHandler(RelayProtocol.Stop, HandleStopAsync);
    }

    /// <summary>
    /// Reserves a slot on <paramref name="relay"/> (connecting through <paramref name="relayAddresses"/> when
    /// not connected yet) and keeps it renewed. Reserving again on the same relay renews and returns the same reservation.
    /// </summary>
    /// <exception cref="RelayException"><see cref="RelayException.Kind"/> says what happened:
    /// <see cref="RelayErrorKind.Refused"/> (the relay's status is in <see cref="RelayException.Status"/>, e.g.
    /// <see cref="RelayStatus.ReservationRefused"/>), <see cref="RelayErrorKind.Io"/> (unreachable, or the connection dropped),
    /// <see cref="RelayErrorKind.Timeout"/> (no answer within <see cref="RelayClientOptions.ReserveTimeout"/>) or
    /// <see cref="RelayErrorKind.ProtocolViolation"/> (an invalid answer or a voucher that does not verify).</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    public async Task<RelayReservation> ReserveAsync(PeerId relay, IReadOnlyList<Multiaddr>? relayAddresses = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(relay);
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        using var timeout = new TimeoutScope(Options.ReserveTimeout, Time, cancellationToken);
        IReadOnlyList<Multiaddr> addresses = relayAddresses ?? [];
        ReservationGrant grant;
        try
        {
            grant = await RequestReservationAsync(relay, addresses, timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException ex) when (!cancellationToken.IsCancellationRequested)
        {
            throw RelayException.From(ex, "reserve");
        }

        RelayReservation? previous = null;
        RelayReservation reservation;
        lock (_lock)
        {
            if (_reservations.TryGetValue(relay, out RelayReservation? existing) && existing.IsActive)
            {
                previous = existing;
                reservation = existing;
            }
            else
            {
                reservation = new RelayReservation(this, relay, addresses, grant);
                _reservations[relay] = reservation;
            }
        }

        if (previous is not null)
        {
            previous.Apply(grant);
            return previous;
        }

        Metrics.Reservations.Add(1);
        RelayLog.Reserved(Logger, relay, grant.Expiry);
        reservation.Schedule();
        return reservation;
    }

    /// <summary>
    /// Opens a relayed connection to <paramref name="target"/> through <paramref name="relay"/>. The result is
    /// a raw byte stream: upgrade it (security, muxer) like any outbound connection.
    /// </summary>
    /// <exception cref="RelayException"><see cref="RelayException.Kind"/> says what happened:
    /// <see cref="RelayErrorKind.Refused"/> (the relay's status, e.g. <see cref="RelayStatus.NoReservation"/>, or the
    /// target's refusal as the relay passed it on; <see cref="RelayStatus.ConnectionFailed"/> when the relay could not
    /// reach the target), <see cref="RelayErrorKind.Io"/> (the relay is unreachable or the connection dropped),
    /// <see cref="RelayErrorKind.Timeout"/> (no answer within <see cref="RelayClientOptions.ConnectTimeout"/>) or
    /// <see cref="RelayErrorKind.ProtocolViolation"/> (an invalid answer).</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    public async Task<RelayedConnection> ConnectAsync(PeerId relay, PeerId target, IReadOnlyList<Multiaddr>? relayAddresses = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(relay);
        ArgumentNullException.ThrowIfNull(target);
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        using var timeout = new TimeoutScope(Options.ConnectTimeout, Time, cancellationToken);
        ILibp2pStream stream;
        try
        {
            stream = await OpenHopAsync(relay, relayAddresses ?? [], "connect", timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException ex) when (!cancellationToken.IsCancellationRequested)
        {
            throw RelayException.From(ex, "connect");
        }

        RelayLimit? limit;
        try
        {
            limit = await OutboundHop.ConnectAsync(stream, target, timeout.Token).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            stream.Abort();
            await stream.DisposeAsync().ConfigureAwait(false);
            if (ex is not (IOException or OperationCanceledException) || (ex is OperationCanceledException && cancellationToken.IsCancellationRequested))
            {
                throw;
            }

            RelayException error = RelayException.From(ex, "connect");
            Metrics.Outgoing.Add(1, RelayMetrics.StatusTag(error.Status));
            throw error;
        }

        Metrics.Outgoing.Add(1, RelayMetrics.StatusTag(RelayStatus.Ok));
        RelayLog.Connected(Logger, relay, target);
        Multiaddr remote = stream.Connection.RemoteAddress.IsRelayed
            ? Multiaddr.CreateCircuit(Multiaddr.Empty, relay, target)
            : Multiaddr.CreateCircuit(stream.Connection.RemoteAddress, relay, target);
        return new RelayedConnection(stream, relay, target, limit, ConnectionDirection.Outbound, remote);
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        if (Volatile.Read(ref _started) != 0)
        {
            _host.RemoveStreamHandler(RelayProtocol.Stop);
            _host.ConnectionClosed -= OnConnectionClosed;
        }

        await _shutdown.CancelAsync().ConfigureAwait(false);
        CircuitListener[] listeners;
        RelayReservation[] reservations;
        lock (_lock)
        {
            listeners = [.. _listeners.Values];
            reservations = [.. _reservations.Values];
        }

        foreach (CircuitListener listener in listeners)
        {
            await listener.DisposeAsync().ConfigureAwait(false);
        }

        foreach (RelayReservation reservation in reservations)
        {
            await reservation.DisposeAsync().ConfigureAwait(false);
        }

        await _running.CloseAsync().ConfigureAwait(false);
        _shutdown.Dispose();
    }

    /// <summary>One RESERVE exchange on a new hop stream (used for the first request and for renewals).</summary>
    internal async Task<ReservationGrant> RequestReservationAsync(PeerId relay, IReadOnlyList<Multiaddr> relayAddresses, CancellationToken cancellationToken)
    {
        ILibp2pStream stream = await OpenHopAsync(relay, relayAddresses, "reserve", cancellationToken).ConfigureAwait(false);
        try
        {
            return await OutboundHop.ReserveAsync(stream, relay, _host.Identity.PeerId, _host.SignatureVerifier, Time.GetUtcNow(), cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is (IOException or OperationCanceledException) and not RelayException && !(ex is OperationCanceledException && cancellationToken.IsCancellationRequested))
        {
            stream.Abort();
            throw RelayException.From(ex, "reserve");
        }
        finally
        {
            await stream.DisposeAsync().ConfigureAwait(false);
        }
    }

    internal bool RegisterListener(CircuitListener listener)
    {
        lock (_lock)
        {
            return _listeners.TryAdd(listener.Relay, listener);
        }
    }

    internal void UnregisterListener(CircuitListener listener)
    {
        lock (_lock)
        {
            if (_listeners.TryGetValue(listener.Relay, out CircuitListener? current) && current == listener)
            {
                _listeners.Remove(listener.Relay);
            }
        }
    }

    internal void Forget(RelayReservation reservation)
    {
        bool removed;
        lock (_lock)
        {
            removed = _reservations.TryGetValue(reservation.Relay, out RelayReservation? current) && current == reservation && _reservations.Remove(reservation.Relay);
        }

        if (removed)
        {
            Metrics.Reservations.Add(-1);
        }
    }

    internal bool HasReservation(PeerId relay)
    {
        lock (_lock)
        {
            return _reservations.TryGetValue(relay, out RelayReservation? reservation) && reservation.IsActive;
        }
    }

    internal CircuitListener? FindListener(PeerId relay)
    {
        lock (_lock)
        {
            return _listeners.GetValueOrDefault(relay);
        }
    }

    /// <summary>Any circuit listener (circuits through relays we hold no reservation with, under <see cref="RelayClientOptions.UnknownRelayCap"/>).</summary>
    internal CircuitListener? AnyListener()
    {
        lock (_lock)
        {
            return _listeners.Values.FirstOrDefault();
        }
    }

    /// <summary>Inbound relayed connections now open through relays we hold no reservation with.</summary>
    internal int CircuitsThroughUnknownRelays()
        => _host.GetFeature<IConnectionsFeature>() is { } connections
            ? connections.Connections.Count(c => c.IsRelayed && c.Direction == ConnectionDirection.Inbound && c.Relay is { } relay && !HasReservation(relay))
            : 0;

    private async Task<ILibp2pStream> OpenHopAsync(PeerId relay, IReadOnlyList<Multiaddr> relayAddresses, string operation, CancellationToken cancellationToken)
    {
        try
        {
            var options = new OpenStreamOptions { DialAddresses = [.. relayAddresses.Select(a => a.WithoutPeerId()).Where(a => !a.IsEmpty)] };
            return await _host.OpenStreamAsync(relay, RelayProtocol.Hop, options, cancellationToken).ConfigureAwait(false);
        }
        catch (IOException ex)
        {
            throw RelayException.From(ex, $"{operation}: cannot open a hop stream to relay {relay}");
        }
    }

    private void OnConnectionClosed(object? sender, ConnectionEventArgs e)
    {
        PeerId peer = e.Connection.RemotePeer;
        RelayReservation? reservation;
        lock (_lock)
        {
            reservation = _reservations.GetValueOrDefault(peer);
        }

        if (reservation is not null && !_host.GetConnections(peer).Any(c => !c.IsRelayed))
        {
            reservation.OnRelayDisconnected();
        }
    }

    private Task HandleStopAsync(ILibp2pStream stream, CancellationToken cancellationToken)
    {
        Task? task = _shutdown.IsCancellationRequested ? null : _running.TryRun(() => InboundStop.HandleAsync(this, stream));
        if (task is null)
        {
            stream.Abort();
            return Task.CompletedTask;
        }

        return task;
    }
}
