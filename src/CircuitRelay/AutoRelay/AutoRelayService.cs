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
/// the hop protocol in Identify join the address book.
/// </summary>
/// <remarks>Every decision is the pool's; this loop only schedules them. Time comes from the injected clock.</remarks>
public sealed class AutoRelayService : IAsyncDisposable
{
    private readonly ILibp2pHost _host;
    private readonly IListenFeature _listen;
    private readonly IPeerStoreFeature? _peers;
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
    private readonly CancellationTokenSource _shutdown = new();
    private Task? _loop;
    private int _disposed;

    /// <summary>Creates the worker; <see cref="Start"/> runs it.</summary>
    /// <exception cref="NotSupportedException">The host does not provide <see cref="IListenFeature"/>.</exception>
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
        _metrics = new AutoRelayMetrics(meterFactory, () => Snapshot(h => h.IsHealthy && !h.IsStatic).Length, options.DesiredReservations);
        _host = host;
        _listen = host.GetRequiredFeature<IListenFeature>("AutoRelay");
        _peers = host.GetFeature<IPeerStoreFeature>();
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
    }

    /// <summary>Raised after the set of live reservations (and so <see cref="RelayedAddresses"/>) changed.</summary>
    public event EventHandler? ReservationsChanged;

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

    /// <summary>Starts the loop (a first cycle at once).</summary>
    public void Start()
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        lock (_lock)
        {
            if (_loop is not null)
            {
                return;
            }

            if (_peers is not null)
            {
                _peers.PeerIdentified += OnPeerIdentified;
            }

            _loop = Task.Run(() => LoopAsync(_shutdown.Token));
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
            bool changed = false;
            foreach (RelayCandidate relay in _static)
            {
                if (GetHeld(relay.Relay) is not { IsHealthy: true } && _pool.GetBackoffUntil(relay.Relay) is null)
                {
                    await ReleaseAsync(relay.Relay).ConfigureAwait(false);
                    changed |= await TryReserveAsync(relay, cancellationToken, isStatic: true).ConfigureAwait(false);
                }
            }

            PeerId[] excluded = [.. Snapshot(_ => true), .. _static.Select(r => r.Relay)];
            int need = _options.DesiredReservations - Snapshot(h => h.IsHealthy && !h.IsStatic).Length;
            if (need > 0)
            {
                foreach (RelayCandidate candidate in _pool.Select(need, excluded))
                {
                    changed |= await TryReserveAsync(candidate, cancellationToken).ConfigureAwait(false);
                }
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
                    await ReleaseAsync(relay).ConfigureAwait(false);
                    changed = true;
                }
            }

            foreach (PeerId lost in Snapshot(h => !h.IsHealthy && !h.IsStatic))
            {
                await ReleaseAsync(lost).ConfigureAwait(false);
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

    /// <summary>Stops the loop and releases every reservation (the node became public, or shuts down). Idempotent.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        if (_peers is not null)
        {
            _peers.PeerIdentified -= OnPeerIdentified;
        }

        await _shutdown.CancelAsync().ConfigureAwait(false);
        if (_loop is not null)
        {
            await _loop.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }

        foreach (PeerId relay in Snapshot(_ => true))
        {
            await ReleaseAsync(relay).ConfigureAwait(false);
        }

        _shutdown.Dispose();
        _wake.Dispose();
        _cycle.Dispose();
    }

    private async Task LoopAsync(CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                await RunCycleAsync(cancellationToken).ConfigureAwait(false);
                using var wakeOrTimer = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                Task timer = Task.Delay(_options.CycleInterval, _time, wakeOrTimer.Token);
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
        _pool.RecordFailure(held.Relay);
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

    private async Task ReleaseAsync(PeerId relay)
    {
        Held? held;
        lock (_lock)
        {
            if (!_held.Remove(relay, out held))
            {
                return;
            }
        }

        _pool.RecordReservationEnded(relay, _time.GetUtcNow() - held.ReservedAt);
        await held.Listener.DisposeAsync().ConfigureAwait(false);
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

    private sealed class Held(PeerId relay, CircuitListener listener, DateTimeOffset reservedAt)
    {
        public PeerId Relay { get; } = relay;

        public CircuitListener Listener { get; } = listener;

        public DateTimeOffset ReservedAt { get; } = reservedAt;

        public bool IsHealthy { get; set; } = true;

        public bool IsStatic { get; init; }
    }
}
