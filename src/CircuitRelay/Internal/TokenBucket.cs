namespace CircuitRelay.Internal;

/// <summary>
/// A token bucket driven by an injected <see cref="TimeProvider"/>: <c>rate</c> tokens per second up to
/// <c>burst</c>. Used for request rate limits (one token per request) and for bandwidth caps (one token per byte).
/// Refill is computed lazily from timestamps, so an idle bucket costs nothing.
/// </summary>
internal sealed class TokenBucket
{
    private readonly TimeProvider _time;
    private readonly Lock _lock = new();
    private double _rate;
    private double _burst;
    private volatile bool _unlimited;
    private double _tokens;
    private long _stamp;

    public TokenBucket(double ratePerSecond, double burst, TimeProvider time)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(ratePerSecond);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(burst);
        _time = time;
        _rate = ratePerSecond;
        _burst = burst;
        _tokens = burst;
        _stamp = time.GetTimestamp();
        _unlimited = IsUnlimited(ratePerSecond, burst);
    }

    /// <summary>A bucket this large never makes anyone wait: the relay's "no bandwidth cap" setting.</summary>
    private static bool IsUnlimited(double rate, double burst) => rate >= double.MaxValue && burst >= double.MaxValue;

    /// <summary>Whether the bucket is full (idle for long enough that it can be forgotten).</summary>
    public bool IsFull
    {
        get
        {
            lock (_lock)
            {
                Refill();
                return _tokens >= _burst;
            }
        }
    }

    public void Update(double ratePerSecond, double burst)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(ratePerSecond);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(burst);
        lock (_lock)
        {
            Refill();
            _rate = ratePerSecond;
            _burst = burst;
            _tokens = Math.Min(_tokens, burst);
            _unlimited = IsUnlimited(ratePerSecond, burst);
        }
    }

    public bool TryAcquire(double count = 1)
    {
        lock (_lock)
        {
            Refill();
            if (_tokens >= count)
            {
                _tokens -= count;
                return true;
            }

            return false;
        }
    }

    /// <summary>
    /// Takes <paramref name="count"/> tokens, waiting on the time provider for the refill when the
    /// bucket is short. The debt model (tokens may go negative) keeps large requests fair and lets the
    /// common case complete synchronously without allocating.
    /// </summary>
    public ValueTask WaitAsync(double count, CancellationToken cancellationToken)
    {
        if (_unlimited)
        {
            return ValueTask.CompletedTask; // the splice's hot path when no cap is configured: no lock
        }

        TimeSpan wait;
        lock (_lock)
        {
            Refill();
            _tokens -= count;
            if (_tokens >= 0)
            {
                return ValueTask.CompletedTask;
            }

            wait = TimeSpan.FromSeconds(-_tokens / _rate);
        }

        return new ValueTask(Task.Delay(wait, _time, cancellationToken));
    }

    private void Refill()
    {
        long now = _time.GetTimestamp();
        double elapsed = _time.GetElapsedTime(_stamp, now).TotalSeconds;
        _stamp = now;
        if (elapsed > 0)
        {
            _tokens = Math.Min(_burst, _tokens + (elapsed * _rate));
        }
    }
}

/// <summary>Token buckets keyed by peer or address, forgetting idle (full) buckets.</summary>
internal sealed class KeyedRateLimiter<TKey>(TimeProvider time)
    where TKey : notnull
{
    private const int PruneThreshold = 1024;
    private readonly Dictionary<TKey, TokenBucket> _buckets = [];
    private readonly Lock _lock = new();

    /// <summary>Takes one permit for <paramref name="key"/>; <paramref name="permits"/> per <paramref name="period"/>, 0 = unlimited.</summary>
    public bool TryAcquire(TKey key, int permits, TimeSpan period)
    {
        if (permits <= 0 || period <= TimeSpan.Zero)
        {
            return true;
        }

        TokenBucket bucket;
        lock (_lock)
        {
            if (!_buckets.TryGetValue(key, out bucket!))
            {
                if (_buckets.Count >= PruneThreshold)
                {
                    foreach (var (k, b) in _buckets.ToArray())
                    {
                        if (b.IsFull)
                        {
                            _buckets.Remove(k);
                        }
                    }
                }

                bucket = new TokenBucket(permits / period.TotalSeconds, permits, time);
                _buckets[key] = bucket;
            }
            else
            {
                bucket.Update(permits / period.TotalSeconds, permits);
            }
        }

        return bucket.TryAcquire();
    }
}
