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
        var pending = new PendingPing(TimeProvider.GetTimestamp(), isKeepAlive: false);
        uint id = RegisterPing(pending) ?? throw CreateClosedException();

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

    private uint? RegisterPing(PendingPing pending)
    {
        lock (_pingLock)
        {
            if (_closedCts.IsCancellationRequested)
            {
                return null;
            }

            uint id = _nextPingId++;
            _pendingPings[id] = pending;
            return id;
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
        if (pending.IsKeepAlive)
        {
            Volatile.Write(ref _keepAliveOutstanding, 0);
        }

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

        if (RegisterPing(new PendingPing(TimeProvider.GetTimestamp(), isKeepAlive: true)) is { } id)
        {
            EnqueueControl(new YamuxHeader(YamuxFrameType.Ping, YamuxFlags.Syn, 0, id));
        }
    }

    private sealed class PendingPing(long started, bool isKeepAlive)
    {
        public long Started { get; } = started;

        public bool IsKeepAlive { get; } = isKeepAlive;

        public TaskCompletionSource<TimeSpan> Answer { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
