using CircuitRelay.Crypto;
using CircuitRelay.Diagnostics;

namespace CircuitRelay.Client;

/// <summary>Why a renewal failed, for <see cref="RelayReservation.RenewalFailed"/>.</summary>
public sealed class ReservationRenewalFailedEventArgs(Exception error, DateTimeOffset? nextAttempt) : EventArgs
{
    /// <summary>The failure (a <see cref="RelayException"/> carries the relay's status).</summary>
    public Exception Error { get; } = error;

    /// <summary>When the next attempt is scheduled, or null when the reservation will expire first.</summary>
    public DateTimeOffset? NextAttempt { get; } = nextAttempt;
}

/// <summary>
/// A reservation this node holds on a relay. It renews itself before it expires (at
/// <see cref="RelayClientOptions.RenewalFraction"/> of the remaining time, retrying on failure) and
/// tells you what happens through <see cref="Renewed"/>, <see cref="RenewalFailed"/> and <see cref="Expired"/>.
/// Disposing it stops the renewals; the relay drops the slot at expiry.
/// </summary>
public sealed class RelayReservation : IAsyncDisposable
{
    // Not disposed: a renewal that starts as the reservation is disposed may still link to it (it owns no timer).
    private readonly CancellationTokenSource _disposing = new();
    private readonly RelayClient _client;
    private readonly Lock _lock = new();
    private readonly ITimer _timer;
    private readonly ITimer _expiryTimer;
    private ReservationGrant _grant;
    private Task? _renewal;
    private int _renewing;
    private int _state; // 0 active, 1 expired, 2 disposed

    internal RelayReservation(RelayClient client, PeerId relay, IReadOnlyList<Multiaddr> relayAddresses, ReservationGrant grant)
    {
        _client = client;
        Relay = relay;
        RelayAddresses = relayAddresses;
        _grant = grant;
        _timer = client.Time.CreateTimer(static state => ((RelayReservation)state!).OnRenewalTimer(), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        _expiryTimer = client.Time.CreateTimer(static state => ((RelayReservation)state!).OnExpiryTimer(), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
    }

    /// <summary>Raised after a successful renewal (automatic or explicit).</summary>
    public event EventHandler? Renewed;

    /// <summary>Raised when a renewal attempt failed; the reservation stays valid until <see cref="Expiry"/>.</summary>
    public event EventHandler<ReservationRenewalFailedEventArgs>? RenewalFailed;

    /// <summary>Raised once when the reservation expired without a successful renewal.</summary>
    public event EventHandler? Expired;

    /// <summary>The relay.</summary>
    public PeerId Relay { get; }

    /// <summary>The addresses used to reach the relay when a renewal needs a new connection.</summary>
    public IReadOnlyList<Multiaddr> RelayAddresses { get; }

    /// <summary>When the reservation expires unless renewed.</summary>
    public DateTimeOffset Expiry => Volatile.Read(ref _grant).Expiry;

    /// <summary>The relay's public addresses, each ending in <c>/p2p/&lt;relay&gt;</c>.</summary>
    public IReadOnlyList<Multiaddr> Addresses => Volatile.Read(ref _grant).Addresses;

    /// <summary>The addresses to advertise: each of <see cref="Addresses"/> followed by <c>/p2p-circuit</c>.</summary>
    public IReadOnlyList<Multiaddr> CircuitAddresses => [.. Addresses.Select(a => a.Encapsulate("/p2p-circuit"))];

    /// <summary>The limit the relay applies to each circuit, or null when unlimited.</summary>
    public RelayLimit? Limit => Volatile.Read(ref _grant).Limit;

    /// <summary>The relay's verified voucher, or null when the relay sent none (rust relays do not).</summary>
    public ReservationVoucher? Voucher => Volatile.Read(ref _grant).Voucher;

    /// <summary>Whether the reservation is held (not expired, not disposed).</summary>
    public bool IsActive => Volatile.Read(ref _state) == 0 && Expiry > _client.Time.GetUtcNow();

    /// <summary>Renews now. Throws <see cref="RelayException"/> when the relay refuses.</summary>
    public async Task RenewAsync(CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _state) == 2, this);
        try
        {
            ReservationGrant grant = await _client.RequestReservationAsync(Relay, RelayAddresses, cancellationToken).ConfigureAwait(false);
            Apply(grant);
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException)
        {
            OnRenewalFailed(ex);
            throw;
        }
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _state, 2) == 2)
        {
            return;
        }

        _timer.Dispose();
        _expiryTimer.Dispose();
        _client.Forget(this);
        Task? renewal;
        lock (_lock)
        {
            renewal = _renewal;
        }

        // A renewal in flight (perhaps to a relay that froze) is cancelled, not waited out.
        await _disposing.CancelAsync().ConfigureAwait(false);
        if (renewal is not null)
        {
            await renewal.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }

    }

    /// <summary>Starts the renewal schedule (after the client registered the reservation).</summary>
    internal void Schedule()
    {
        lock (_lock)
        {
            if (Volatile.Read(ref _state) != 0)
            {
                return;
            }

            DateTimeOffset now = _client.Time.GetUtcNow();
            TimeSpan remaining = Max(TimeSpan.Zero, Expiry - now);
            _timer.Change(remaining * _client.Options.RenewalFraction, Timeout.InfiniteTimeSpan);
            _expiryTimer.Change(remaining, Timeout.InfiniteTimeSpan);
        }
    }

    /// <summary>The relay's connection went away: the reservation is gone on the relay's side, so renew now.</summary>
    internal void OnRelayDisconnected()
    {
        if (Volatile.Read(ref _state) == 0)
        {
            StartRenewal();
        }
    }

    internal void Apply(ReservationGrant grant)
    {
        Volatile.Write(ref _grant, grant);
        if (Volatile.Read(ref _state) != 0)
        {
            return;
        }

        Schedule();
        _client.Metrics.Renewals.Add(1, new KeyValuePair<string, object?>("outcome", "renewed"));
        Renewed?.Invoke(this, EventArgs.Empty);
    }

    private void OnRenewalTimer()
    {
        if (Volatile.Read(ref _state) == 0 && _client.Time.GetUtcNow() < Expiry)
        {
            StartRenewal();
        }
    }

    private void OnExpiryTimer()
    {
        if (_client.Time.GetUtcNow() < Expiry)
        {
            return; // renewed meanwhile; Schedule re-armed the timer
        }

        if (Interlocked.CompareExchange(ref _state, 1, 0) == 0)
        {
            _timer.Dispose();
            _client.Forget(this);
            _client.Metrics.Renewals.Add(1, new KeyValuePair<string, object?>("outcome", "expired"));
            RelayLog.ReservationExpired(_client.Logger, Relay);
            Expired?.Invoke(this, EventArgs.Empty);
        }
    }

    private void StartRenewal()
    {
        if (Interlocked.CompareExchange(ref _renewing, 1, 0) != 0)
        {
            return; // one attempt at a time
        }

        lock (_lock)
        {
            if (Volatile.Read(ref _state) == 2)
            {
                Volatile.Write(ref _renewing, 0);
                return; // disposed: DisposeAsync has already taken the renewal to wait for
            }

            _renewal = RenewInBackgroundAsync();
        }
    }

    private async Task RenewInBackgroundAsync()
    {
        await Task.Yield();
        ReservationGrant? grant = null;
        Exception? error = null;
        try
        {
            using var stopping = CancellationTokenSource.CreateLinkedTokenSource(_client.ShutdownToken, _disposing.Token);
            using var timeout = new Internal.TimeoutScope(_client.Options.ReserveTimeout, _client.Time, stopping.Token);
            grant = await _client.RequestReservationAsync(Relay, RelayAddresses, timeout.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException)
        {
            error = ex;
        }
        finally
        {
            // The attempt is over before anyone hears of it, so the next timer can start another.
            Volatile.Write(ref _renewing, 0);
        }

        if (grant is not null)
        {
            Apply(grant);
        }
        else
        {
            OnRenewalFailed(error!);
        }
    }

    private void OnRenewalFailed(Exception error)
    {
        if (Volatile.Read(ref _state) != 0)
        {
            return;
        }

        DateTimeOffset now = _client.Time.GetUtcNow();
        DateTimeOffset next = now + _client.Options.RenewalRetryInterval;
        DateTimeOffset? nextAttempt = next < Expiry ? next : null;
        if (nextAttempt is not null)
        {
            // Retry after the interval; the expiry timer ends it if no attempt succeeds in time.
            _timer.Change(_client.Options.RenewalRetryInterval, Timeout.InfiniteTimeSpan);
        }

        RelayLog.RenewalFailed(_client.Logger, Relay, error.Message);
        _client.Metrics.Renewals.Add(1, new KeyValuePair<string, object?>("outcome", "failed"));
        RenewalFailed?.Invoke(this, new ReservationRenewalFailedEventArgs(error, nextAttempt));
    }

    private static TimeSpan Max(TimeSpan a, TimeSpan b) => a > b ? a : b;
}
