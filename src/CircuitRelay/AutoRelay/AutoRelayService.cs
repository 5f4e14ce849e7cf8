using System.Diagnostics.Metrics;
using CircuitRelay.Abstractions;
using CircuitRelay.Internal;
using CircuitRelay.Protocol;
using CircuitRelay.Transport;
using Microsoft.Extensions.Logging;

namespace CircuitRelay.AutoRelay;

/// <summary>
/// Keeps <see cref="AutoRelayOptions.DesiredReservations"/> reservations live on relays the <see cref="RelayPool"/>
/// chooses: a thin loop that wakes every <see cref="AutoRelayOptions.CycleInterval"/> or at once when a reservation is
/// lost, reserves through the host's <see cref="IListenFeature"/> (so the host accepts the circuits and announces the
/// circuit addresses), reports every outcome to the pool, rotates reservations the pool says should go (the
/// replacement first: make before break) and drops lost ones after trying to replace them. Connected peers that list
/// the hop protocol in Identify join the address book; candidates known only by address are probed first (dialed, the
/// peer id learned from the handshake and the protocols from Identify). Relays holding a reservation are pinged every
/// <see cref="AutoRelayOptions.LivenessInterval"/> when the host has <see cref="IPingFeature"/>, so a frozen relay is
/// replaced in seconds.
/// </summary>
/// <remarks>Every choice is the pool's; this loop only schedules them. Time comes from the injected clock.</remarks>
public sealed class AutoRelayService : IAsyncDisposable
{
    private readonly ILibp2pHost _host;
    private readonly IListenFeature _listen;
    private readonly IPeerStoreFeature? _peers;
    private readonly IDialFeature? _dial;
    private readonly IPingFeature? _ping;
    private readonly IConnectionsFeature? _connections;
    private readonly Dictionary<Multiaddr, ProbeState> _probes = [];
    private readonly Counters _counters = new();
    private readonly RelayAddressBook _book;
    private readonly RelayPool _pool;
    private readonly AutoRelayOptions _options;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly Lock _lock = new();
    private readonly Dictionary<PeerId, Held> _held = [];
    private readonly RelayCandidate[] _static;
    private readonly AutoRelayMetrics _metrics;
    private readonly SemaphoreSlim _wake = new(0);
    private readonly SemaphoreSlim _cycle = new(1, 1);
    private CancellationTokenSource? _running;
    private Task? _loop;
    private Task? _liveness;
    private int _disposed;

    /// <summary>Creates the worker; <see cref="Start"/> runs it.</summary>
    /// <exception cref="NotSupportedException">The host does not provide <see cref="IListenFeature"/>, or <see cref="IDialFeature"/> when a candidate must be probed.</exception>
    /// <exception cref="ArgumentException">An option is invalid (the message names it).</exception>
    public AutoRelayService(ILibp2pHost host, RelayAddressBook book, RelayPool pool, AutoRelayOptions options, ILoggerFactory loggerFactory, IMeterFactory meterFactory, TimeProvider timeProvider)
    {
        ArgumentNullException.ThrowIfNull(host);
        ArgumentNullException.ThrowIfNull(book);
        ArgumentNullException.ThrowIfNull(pool);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(loggerFactory);
        ArgumentNullException.ThrowIfNull(meterFactory);
        ArgumentNullException.ThrowIfNull(timeProvider);
        options.Validate();
        _metrics = new AutoRelayMetrics(meterFactory, () => Snapshot(h => h.IsHealthy && !h.IsStatic).Length, options.DesiredReservations, book, pool);
        _host = host;
        _listen = host.GetRequiredFeature<IListenFeature>("AutoRelay");
        _peers = host.GetFeature<IPeerStoreFeature>();
        _dial = host.GetFeature<IDialFeature>();
        _ping = host.GetFeature<IPingFeature>();
        _connections = host.GetFeature<IConnectionsFeature>();
        _book = book;
        _pool = pool;
        _options = options;
        _logger = loggerFactory.CreateLogger<AutoRelayService>();
        _time = timeProvider;
        _static = [.. options.StaticRelays.Select(a => new RelayCandidate(a.GetPeerId()!, [a.WithoutPeerId()], 1, IsConfigured: true))];
        foreach (RelayCandidate relay in _static)
        {
            book.AddConfigured(relay.Relay, relay.Addresses);
        }

        foreach (Multiaddr candidate in options.Candidates)
        {
            if (candidate.GetPeerId() is { } relay)
            {
                book.AddConfigured(relay, [candidate.WithoutPeerId()]);
            }
            else
            {
                _probes.TryAdd(candidate, new ProbeState());
            }
        }

        if (_probes.Count > 0 && _dial is null)
        {
            throw new NotSupportedException("AutoRelay needs the host's IDialFeature to probe relay candidates given without a peer id.");
        }
    }

    /// <summary>Raised after the set of live reservations (and so <see cref="RelayedAddresses"/>) changed.</summary>
    public event EventHandler? ReservationsChanged;

    /// <summary>Raised when a reservation became live (its circuit addresses are reachable).</summary>
    public event EventHandler<AutoRelayReservationEventArgs>? ReservationOpened;

    /// <summary>Raised when a live reservation was lost, rotated away or released (its circuit addresses are no longer reachable).</summary>
    public event EventHandler<AutoRelayReservationEventArgs>? ReservationEnded;

    /// <summary>The relays this node holds a live reservation on.</summary>
    public IReadOnlyList<PeerId> Relays
    {
        get
        {
            lock (_lock)
            {
                return [.. _held.Values.Where(h => h.IsHealthy).Select(h => h.Relay)];
            }
        }
    }

    /// <summary>The circuit addresses of the live reservations (<c>&lt;relay addr&gt;/p2p/&lt;relay&gt;/p2p-circuit</c>).</summary>
    public IReadOnlyList<Multiaddr> RelayedAddresses
    {
        get
        {
            lock (_lock)
            {
                return [.. _held.Values.Where(h => h.IsHealthy).SelectMany(h => h.Listener.ListenAddresses)];
            }
        }
    }

    /// <summary>The worker's state and counters now (see <see cref="AutoRelaySnapshot"/>).</summary>
    public AutoRelaySnapshot GetSnapshot()
    {
        Held[] held;
        int pendingProbes;
        lock (_lock)
        {
            held = [.. _held.Values];
            pendingProbes = _probes.Values.Count(p => p.Peer is null);
        }

        ReservationSnapshot[] reservations = [.. held.Select(h => new ReservationSnapshot(
            h.Relay.ToString(),
            [.. h.Listener.ListenAddresses.Select(a => a.ToString())],
            h.ReservedAt,
            h.Listener.Reservation.Expiry,
            h.IsStatic,
            h.IsHealthy,
            _pool.Score(h.Relay)))];
        var counters = new AutoRelayCounters(
            Interlocked.Read(ref _counters.Cycles),
            Interlocked.Read(ref _counters.ReservationsOpened),
            Interlocked.Read(ref _counters.ReservationsFailed),
            Interlocked.Read(ref _counters.ReservationsLost),
            Interlocked.Read(ref _counters.ReservationsClosed),
            Interlocked.Read(ref _counters.Rotations),
            Interlocked.Read(ref _counters.ProbesSucceeded),
            Interlocked.Read(ref _counters.ProbesFailed),
            Interlocked.Read(ref _counters.LivenessFailures));
        return new AutoRelaySnapshot(
            _time.GetUtcNow(),
            _options.DesiredReservations,
            held.Count(h => h.IsHealthy && !h.IsStatic),
            reservations,
            _book.Count,
            _book.CountBySource().ToDictionary(p => p.Key.ToString().ToLowerInvariant(), p => p.Value),
            _pool.CandidateCount,
            _pool.BackoffCount,
            pendingProbes,
            counters);
    }

    /// <summary>Starts the loop (a first cycle at once); again after <see cref="StopAsync"/> too. Does nothing when running.</summary>
    public void Start()
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        lock (_lock)
        {
            if (_running is not null)
            {
                return;
            }

            if (_peers is not null)
            {
                _peers.PeerIdentified += OnPeerIdentified;
            }

            var running = new CancellationTokenSource();
            _running = running;
            _loop = Task.Run(() => LoopAsync(running.Token));
            if (_ping is not null)
            {
                _liveness = Task.Run(() => LivenessLoopAsync(running.Token));
            }
        }
    }

    /// <summary>
    /// Stops the loop and releases every reservation (the node became public: it serves as a relay instead); the book,
    /// the pool's scores and the counters stay, and <see cref="Start"/> runs it again. Idempotent.
    /// </summary>
    public async Task StopAsync(CancellationToken cancellationToken = default)
    {
        CancellationTokenSource? running;
        Task? loop, liveness;
        lock (_lock)
        {
            running = _running;
            loop = _loop;
            liveness = _liveness;
            _running = null;
            _loop = null;
            _liveness = null;
        }

        if (running is not null)
        {
            if (_peers is not null)
            {
                _peers.PeerIdentified -= OnPeerIdentified;
            }

            await running.CancelAsync().ConfigureAwait(false);
            await Task.WhenAll(loop ?? Task.CompletedTask, liveness ?? Task.CompletedTask).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            running.Dispose();
        }

        // After any cycle in flight (a caller's own RunCycleAsync included), so nothing it reserves outlives the stop.
        PeerId[] held;
        await _cycle.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            held = Snapshot(_ => true);
            foreach (PeerId relay in held)
            {
                await ReleaseAsync(relay, "stopped").ConfigureAwait(false);
            }
        }
        finally
        {
            _cycle.Release();
        }

        if (held.Length > 0)
        {
            ReservationsChanged?.Invoke(this, EventArgs.Empty);
        }
    }

    /// <summary>
    /// Runs one cycle now: replaces lost reservations, fills up to the desired count, rotates. The loop calls it; tests
    /// and callers may too (cycles never overlap).
    /// </summary>
    /// <returns>How many live automatic reservations the node holds afterwards (static ones apart).</returns>
    public async Task<int> RunCycleAsync(CancellationToken cancellationToken = default)
    {
        await _cycle.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            _metrics.Cycles.Add(1);
            Interlocked.Increment(ref _counters.Cycles);
            await ProbeDueAsync(cancellationToken).ConfigureAwait(false);
            bool changed = false;
            foreach (RelayCandidate relay in _static)
            {
                if (GetHeld(relay.Relay) is not { IsHealthy: true } && _pool.GetBackoffUntil(relay.Relay) is null)
                {
                    await ReleaseAsync(relay.Relay, "lost").ConfigureAwait(false);
                    changed |= await TryReserveAsync(relay, cancellationToken, isStatic: true).ConfigureAwait(false);
                }
            }

            PeerId[] excluded = [.. Snapshot(_ => true), .. _static.Select(r => r.Relay)];
            int need = _options.DesiredReservations - Snapshot(h => h.IsHealthy && !h.IsStatic).Length;
            if (need > 0)
            {
                // Concurrently: one relay that stalls until ReserveTimeout does not hold up the others.
                bool[] reserved = await Task.WhenAll(_pool.Select(need, excluded).Select(c => TryReserveAsync(c, cancellationToken))).ConfigureAwait(false);
                changed |= reserved.Contains(true);
            }

            foreach (PeerId relay in Snapshot(h => h.IsHealthy && !h.IsStatic))
            {
                if (GetHeld(relay) is not { } held || !_pool.ShouldRotate(relay, held.ReservedAt, Snapshot(h => h.IsHealthy)))
                {
                    continue;
                }

                if (_pool.Select(1, [.. Snapshot(_ => true), .. _static.Select(r => r.Relay)]).FirstOrDefault() is { } replacement
                    && await TryReserveAsync(replacement, cancellationToken).ConfigureAwait(false))
                {
                    AutoRelayLog.Rotated(_logger, relay, replacement.Relay);
                    _metrics.Rotations.Add(1);
                    Interlocked.Increment(ref _counters.Rotations);
                    await ReleaseAsync(relay, "rotated").ConfigureAwait(false);
                    changed = true;
                }
            }

            foreach (PeerId lost in Snapshot(h => !h.IsHealthy && !h.IsStatic))
            {
                await ReleaseAsync(lost, "lost").ConfigureAwait(false);
                changed = true;
            }

            int count = Snapshot(h => h.IsHealthy && !h.IsStatic).Length;
            if (count < _options.DesiredReservations)
            {
                AutoRelayLog.Short(_logger, count, _options.DesiredReservations);
            }

            if (changed)
            {
                ReservationsChanged?.Invoke(this, EventArgs.Empty);
            }

            return count;
        }
        finally
        {
            _cycle.Release();
        }
    }

    /// <summary>Stops the loop and releases every reservation, for good (see <see cref="StopAsync"/>). Idempotent.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await StopAsync(CancellationToken.None).ConfigureAwait(false);
        _wake.Dispose();
        _cycle.Dispose();
    }

    private async Task LoopAsync(CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                int held = await RunCycleAsync(cancellationToken).ConfigureAwait(false);
                using var wakeOrTimer = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                Task timer = Task.Delay(NextCycleDelay(held), _time, wakeOrTimer.Token);
                Task woken = _wake.WaitAsync(wakeOrTimer.Token);
                await Task.WhenAny(timer, woken).ConfigureAwait(false);
                await wakeOrTimer.CancelAsync().ConfigureAwait(false);
                await Task.WhenAll(timer, woken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
        }
    }

    /// <summary>
    /// When the next cycle runs: after <see cref="AutoRelayOptions.CycleInterval"/>, or sooner, when the node is short of
    /// reservations (or of a static one), as soon as the first backoff or probe wait ends, so a relay that came back is
    /// used again within its backoff rather than at the next full cycle.
    /// </summary>
    internal TimeSpan NextCycleDelay(int held)
    {
        bool staticMissing = _static.Any(r => GetHeld(r.Relay) is not { IsHealthy: true });
        if (held >= _options.DesiredReservations && !staticMissing)
        {
            return _options.CycleInterval;
        }

        DateTimeOffset now = _time.GetUtcNow();
        DateTimeOffset? next = _pool.EarliestBackoffEnd();
        lock (_lock)
        {
            foreach (ProbeState probe in _probes.Values)
            {
                if (probe.Peer is null && probe.NextAttempt > now && (next is null || probe.NextAttempt < next))
                {
                    next = probe.NextAttempt;
                }
            }
        }

        if (next is not { } at)
        {
            return _options.CycleInterval;
        }

        TimeSpan wait = at - now;
        return wait < TimeSpan.FromMilliseconds(10) ? TimeSpan.FromMilliseconds(10) : (wait < _options.CycleInterval ? wait : _options.CycleInterval);
    }

    private async Task<bool> TryReserveAsync(RelayCandidate candidate, CancellationToken cancellationToken, bool isStatic = false)
    {
        Multiaddr address = candidate.Addresses[0].WithPeerId(candidate.Relay).Encapsulate("/p2p-circuit");
        long started = _time.GetTimestamp();
        CircuitListener? listener = null;
        try
        {
            using var scope = new TimeoutScope(_options.ReserveTimeout, _time, cancellationToken);
            listener = await _listen.ListenAsync(address, scope.Token).ConfigureAwait(false) as CircuitListener
                ?? throw new IOException($"Listening on {address} did not go through the circuit transport.");
        }
        catch (Exception ex) when (ex is IOException or TimeoutException or NotSupportedException or InvalidOperationException
            || (ex is OperationCanceledException && !cancellationToken.IsCancellationRequested))
        {
            DateTimeOffset until = _pool.RecordFailure(candidate.Relay);
            AutoRelayLog.ReserveFailed(_logger, candidate.Relay, until, ex.Message);
            _metrics.Reservations.Add(1, AutoRelayMetrics.Failed);
            Interlocked.Increment(ref _counters.ReservationsFailed);
            return false;
        }

        TimeSpan roundTrip = _time.GetElapsedTime(started);
        _pool.RecordSuccess(candidate.Relay, roundTrip);
        var held = new Held(candidate.Relay, listener, _time.GetUtcNow()) { IsStatic = isStatic };
        listener.Reservation.RenewalFailed += (_, e) => OnLost(held, e.Error.Message);
        listener.Reservation.Expired += (_, _) => OnLost(held, "expired");
        lock (_lock)
        {
            _held[candidate.Relay] = held;
        }

        AutoRelayLog.Reserved(_logger, candidate.Relay, candidate.Score, (long)roundTrip.TotalMilliseconds);
        _metrics.Reservations.Add(1, AutoRelayMetrics.Opened);
        Interlocked.Increment(ref _counters.ReservationsOpened);
        ReservationOpened?.Invoke(this, new AutoRelayReservationEventArgs(candidate.Relay, listener.ListenAddresses, reason: null));
        return true;
    }

    private void OnLost(Held held, string reason)
    {
        lock (_lock)
        {
            if (!held.IsHealthy || !_held.TryGetValue(held.Relay, out Held? current) || !ReferenceEquals(current, held))
            {
                return;
            }

            held.IsHealthy = false;
        }

        AutoRelayLog.Lost(_logger, held.Relay, reason);
        _metrics.Lost.Add(1);
        Interlocked.Increment(ref _counters.ReservationsLost);
        _pool.RecordFailure(held.Relay);
        ReservationEnded?.Invoke(this, new AutoRelayReservationEventArgs(held.Relay, held.Listener.ListenAddresses, "lost: " + reason));
        Wake();
    }

    private void OnPeerIdentified(object? sender, PeerIdentifiedEventArgs e)
    {
        if (e.Record.Supports(RelayProtocol.Hop) && e.Record.ListenAddresses.Count > 0)
        {
            _book.AddIdentified(e.Record.Peer, e.Record.ListenAddresses);
            Wake();
        }
    }

    private void Wake()
    {
        if (Volatile.Read(ref _disposed) == 0 && _wake.CurrentCount == 0)
        {
            try
            {
                _wake.Release();
            }
            catch (ObjectDisposedException)
            {
                // Disposed meanwhile.
            }
        }
    }

    private async Task ReleaseAsync(PeerId relay, string reason)
    {
        Held? held;
        bool wasHealthy;
        lock (_lock)
        {
            if (!_held.Remove(relay, out held))
            {
                return;
            }

            wasHealthy = held.IsHealthy;
            held.IsHealthy = false;
        }

        _pool.RecordReservationEnded(relay, _time.GetUtcNow() - held.ReservedAt);
        if (wasHealthy)
        {
            _metrics.Reservations.Add(1, AutoRelayMetrics.Closed);
            Interlocked.Increment(ref _counters.ReservationsClosed);
            ReservationEnded?.Invoke(this, new AutoRelayReservationEventArgs(relay, held.Listener.ListenAddresses, reason));
        }

        await held.Listener.DisposeAsync().ConfigureAwait(false);
    }

    /// <summary>Probes, concurrently, every candidate known only by address whose next attempt is due.</summary>
    private async Task ProbeDueAsync(CancellationToken cancellationToken)
    {
        DateTimeOffset now = _time.GetUtcNow();
        KeyValuePair<Multiaddr, ProbeState>[] due;
        lock (_lock)
        {
            due = [.. _probes.Where(p => p.Value.Peer is null && p.Value.NextAttempt <= now)];
        }

        if (due.Length > 0)
        {
            await Task.WhenAll(due.Select(p => ProbeAsync(p.Key, p.Value, cancellationToken))).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Dials <paramref name="address"/> accepting any peer, learns its id from the handshake and its protocols from
    /// Identify (when the host has a peer store), and adds it to the book as configured when it lists the hop protocol.
    /// </summary>
    private async Task ProbeAsync(Multiaddr address, ProbeState state, CancellationToken cancellationToken)
    {
        string reason;
        try
        {
            using var scope = new TimeoutScope(_options.ReserveTimeout, _time, cancellationToken);
            ConnectionInfo connection = await _dial!.DialAsync(address, new DialOptions { AllowUnknownPeer = true }, scope.Token).ConfigureAwait(false);
            PeerId peer = connection.RemotePeer;
            if (_peers is null || await ListsHopAsync(peer, scope.Token).ConfigureAwait(false))
            {
                lock (_lock)
                {
                    state.Peer = peer;
                    state.FailuresInARow = 0;
                }

                _book.AddConfigured(peer, [address.WithoutPeerId()]);
                AutoRelayLog.Probed(_logger, address, peer);
                _metrics.Probes.Add(1, AutoRelayMetrics.Succeeded);
                Interlocked.Increment(ref _counters.ProbesSucceeded);
                return;
            }

            reason = $"{peer} does not list {RelayProtocol.Hop} in Identify";
        }
        catch (Exception ex) when (ex is IOException or TimeoutException or ArgumentException or InvalidOperationException or NotSupportedException
            || (ex is OperationCanceledException && !cancellationToken.IsCancellationRequested))
        {
            reason = ex is OperationCanceledException ? $"no answer within {_options.ReserveTimeout.TotalSeconds} s" : ex.Message;
        }

        TimeSpan wait;
        lock (_lock)
        {
            state.FailuresInARow++;
            wait = _pool.NextBackoff(state.FailuresInARow);
            state.NextAttempt = _time.GetUtcNow() + wait;
        }

        AutoRelayLog.ProbeFailed(_logger, address, state.NextAttempt, reason);
        _metrics.Probes.Add(1, AutoRelayMetrics.Failed);
        Interlocked.Increment(ref _counters.ProbesFailed);
    }

    /// <summary>Whether <paramref name="peer"/>'s Identify lists the hop protocol (waits for its Identify to arrive).</summary>
    private async Task<bool> ListsHopAsync(PeerId peer, CancellationToken cancellationToken)
    {
        var identified = new TaskCompletionSource<PeerRecord>(TaskCreationOptions.RunContinuationsAsynchronously);
        void OnIdentified(object? sender, PeerIdentifiedEventArgs e)
        {
            if (e.Record.Peer == peer)
            {
                identified.TrySetResult(e.Record);
            }
        }

        _peers!.PeerIdentified += OnIdentified;
        try
        {
            PeerRecord record = _peers.GetPeer(peer) is { Protocols.Count: > 0 } known
                ? known
                : await identified.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
            return record.Supports(RelayProtocol.Hop);
        }
        finally
        {
            _peers.PeerIdentified -= OnIdentified;
        }
    }

    /// <summary>Pings every relay holding a live reservation each <see cref="AutoRelayOptions.LivenessInterval"/>.</summary>
    private async Task LivenessLoopAsync(CancellationToken cancellationToken)
    {
        try
        {
            while (true)
            {
                await Task.Delay(_options.LivenessInterval, _time, cancellationToken).ConfigureAwait(false);
                await CheckLivenessAsync(cancellationToken).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Stopped.
        }
    }

    /// <summary>
    /// Pings every relay holding a live reservation once, concurrently (the worker does it every
    /// <see cref="AutoRelayOptions.LivenessInterval"/> once started): one not answering within
    /// <see cref="AutoRelayOptions.LivenessTimeout"/> loses its reservation, its direct connections are closed and the
    /// worker replaces it at once. Does nothing when the host has no <see cref="IPingFeature"/>.
    /// </summary>
    /// <returns>How many relays failed the check.</returns>
    public async Task<int> CheckLivenessAsync(CancellationToken cancellationToken = default)
    {
        if (_ping is null)
        {
            return 0;
        }

        Held[] live;
        lock (_lock)
        {
            live = [.. _held.Values.Where(h => h.IsHealthy)];
        }

        bool[] alive = await Task.WhenAll(live.Select(h => CheckLivenessAsync(h, cancellationToken))).ConfigureAwait(false);
        return alive.Count(a => !a);
    }

    /// <summary>One liveness ping; no answer in time loses the reservation and closes the relay's direct connections.</summary>
    private async Task<bool> CheckLivenessAsync(Held held, CancellationToken cancellationToken)
    {
        string reason;
        try
        {
            using var scope = new TimeoutScope(_options.LivenessTimeout, _time, cancellationToken);
            await _ping!.PingAsync(held.Relay, scope.Token).ConfigureAwait(false);
            return true;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw;
        }
        catch (Exception ex) when (ex is OperationCanceledException or TimeoutException)
        {
            reason = $"no ping answer within {_options.LivenessTimeout.TotalSeconds} s";
        }
        catch (Exception ex) when (ex is IOException or InvalidDataException or InvalidOperationException)
        {
            reason = $"ping failed: {ex.Message}";
        }

        Interlocked.Increment(ref _counters.LivenessFailures);
        OnLost(held, reason);

        // Released at once, before the connection is closed: a lost connection would start a renewal toward the relay.
        await ReleaseAsync(held.Relay, "lost").ConfigureAwait(false);
        if (_connections is null)
        {
            return false;
        }

        foreach (ConnectionInfo connection in _host.GetConnections(held.Relay).Where(c => !c.IsRelayed))
        {
            // A frozen relay may never read what the close writes: bounded, and the loop goes on regardless.
            using var scope = new TimeoutScope(_options.LivenessTimeout, _time, cancellationToken);
            try
            {
                await _connections.CloseAsync(connection, scope.Token).AsTask().WaitAsync(scope.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is IOException or OperationCanceledException)
            {
                // Gone already, or the close did not finish in time.
            }
        }

        return false;
    }

    private Held? GetHeld(PeerId relay)
    {
        lock (_lock)
        {
            return _held.GetValueOrDefault(relay);
        }
    }

    private PeerId[] Snapshot(Func<Held, bool> which)
    {
        lock (_lock)
        {
            return [.. _held.Values.Where(which).Select(h => h.Relay)];
        }
    }

    /// <summary>A candidate known only by address: when to probe it next, and the peer once learned.</summary>
    private sealed class ProbeState
    {
        public PeerId? Peer { get; set; }

        public int FailuresInARow { get; set; }

        public DateTimeOffset NextAttempt { get; set; } = DateTimeOffset.MinValue;
    }

    /// <summary>Running totals for <see cref="GetSnapshot"/> (the meter instruments carry the same counts).</summary>
    private sealed class Counters
    {
        public long Cycles;
        public long ReservationsOpened;
        public long ReservationsFailed;
        public long ReservationsLost;
        public long ReservationsClosed;
        public long Rotations;
        public long ProbesSucceeded;
        public long ProbesFailed;
        public long LivenessFailures;
    }

    private sealed class Held(PeerId relay, CircuitListener listener, DateTimeOffset reservedAt)
    {
        public PeerId Relay { get; } = relay;

        public CircuitListener Listener { get; } = listener;

        public DateTimeOffset ReservedAt { get; } = reservedAt;

        public bool IsHealthy { get; set; } = true;

        public bool IsStatic { get; init; }
    }
}
