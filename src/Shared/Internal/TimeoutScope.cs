namespace CircuitRelay.Internal;

/// <summary>
/// A token cancelled after a timeout on the injected clock, or when an outer token is. Dispose it when done.
/// </summary>
internal sealed class TimeoutScope : IDisposable
{
    private readonly CancellationTokenSource? _timeout;
    private readonly CancellationTokenSource? _linked;

    public TimeoutScope(TimeSpan timeout, TimeProvider time, CancellationToken cancellationToken)
    {
        if (timeout == Timeout.InfiniteTimeSpan)
        {
            Token = cancellationToken;
            return;
        }

        _timeout = new CancellationTokenSource(timeout, time);
        _linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _timeout.Token);
        Token = _linked.Token;
    }

    public CancellationToken Token { get; }

    /// <summary>Whether the timeout (not the outer token) fired.</summary>
    public bool TimedOut => _timeout?.IsCancellationRequested == true;

    public void Dispose()
    {
        _linked?.Dispose();
        _timeout?.Dispose();
    }
}
