namespace CircuitRelay.ReferenceHost.Yamux;

/// <content>Pings: round-trip measurement and keep-alive.</content>
internal sealed partial class YamuxSession
{
    private readonly Lock _pingLock = new();
    private readonly Dictionary<uint, PendingPing> _pendingPings = [];
    private uint _nextPingId;
    private long _rttTicks;
    private int _keepAliveOutstanding;

    /// <summary>Sends a ping and waits for its answer.</summary>
    /// <returns>The round-trip time.</returns>
    /// <exception cref="IOException">The session closed first.</exception>
    public async ValueTask<TimeSpan> PingAsync(CancellationToken cancellationToken = default)
    {
        var pending = new PendingPing(TimeProvider.GetTimestamp());
        uint id;
        lock (_pingLock)
        {
            if (_closedCts.IsCancellationRequested)
            {
                throw CreateClosedException();
            }

            id = _nextPingId++;
            _pendingPings[id] = pending;
        }

        try
        {
            await SendFrameAsync(new YamuxHeader(YamuxFrameType.Ping, YamuxFlags.Syn, 0, id), default).ConfigureAwait(false);
            return await pending.Answer.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            lock (_pingLock)
            {
                _pendingPings.Remove(id);
            }
        }
    }

    private void CompletePing(uint id)
    {
        PendingPing? pending;
        lock (_pingLock)
        {
            _pendingPings.Remove(id, out pending);
        }

        if (pending is null)
        {
            return;
        }

        TimeSpan rtt = TimeProvider.GetElapsedTime(pending.Started);
        Volatile.Write(ref _rttTicks, Math.Max(1, rtt.Ticks));
        pending.Answer.TrySetResult(rtt);
    }

    private void FailPendingPings()
    {
        List<PendingPing> pings;
        lock (_pingLock)
        {
            pings = [.. _pendingPings.Values];
            _pendingPings.Clear();
        }

        foreach (PendingPing ping in pings)
        {
            ping.Answer.TrySetException(CreateClosedException());
        }
    }

    private void OnKeepAliveTick()
    {
        if (Interlocked.Exchange(ref _keepAliveOutstanding, 1) == 1)
        {
            Log.YamuxKeepAliveTimeout(_logger);
            BeginClose(null, new TimeoutException("The Yamux peer did not answer the keep-alive ping."), abortTransport: false);
            return;
        }

        _ = KeepAliveAsync();
    }

    private async Task KeepAliveAsync()
    {
        try
        {
            await PingAsync(CancellationToken.None).ConfigureAwait(false);
            Volatile.Write(ref _keepAliveOutstanding, 0);
        }
        catch (IOException)
        {
            // The session is closing.
        }
    }

    private sealed class PendingPing(long started)
    {
        public long Started { get; } = started;

        public TaskCompletionSource<TimeSpan> Answer { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
