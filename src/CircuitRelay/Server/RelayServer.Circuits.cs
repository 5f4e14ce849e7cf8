using System.Net;
using CircuitRelay.Diagnostics;
using CircuitRelay.Abstractions;
using CircuitRelay.Internal;

namespace CircuitRelay.Server;

public sealed partial class RelayServer
{
    private readonly HashSet<CircuitSplice> _circuits = [];
    private readonly Dictionary<PeerId, int> _circuitsPerPeer = [];
    private readonly Dictionary<PeerId, BandwidthEntry> _bandwidth = [];
    private int _circuitCount;

    private sealed class BandwidthEntry(TokenBucket bucket)
    {
        public TokenBucket Bucket { get; } = bucket;

        public int References { get; set; }
    }

    /// <summary>
    /// The circuit policy: access control, rate limits, the target's reservation and the circuit caps, then the stop
    /// leg and the answer through <paramref name="request"/>, then the splice.
    /// </summary>
    private async Task HandleConnectAsync(CircuitRequest request, RelayServerOptions options)
    {
        ConnectionInfo connection = request.Connection;
        PeerId from = request.Peer;

        // go's order of checks (digest 1.5).
        if (connection.IsRelayed || connection.RemoteAddress.IsRelayed)
        {
            await RefuseConnectAsync(request, null, RelayStatus.PermissionDenied, "connect over a relayed connection").ConfigureAwait(false);
            return;
        }

        if (request.Target is not { } target)
        {
            await RefuseConnectAsync(request, null, RelayStatus.MalformedMessage, "missing or invalid target peer id").ConfigureAwait(false);
            return;
        }

        if (options.AllowConnect is { } allow && !allow(from, connection.RemoteAddress, target))
        {
            await RefuseConnectAsync(request, target, RelayStatus.PermissionDenied, "refused by the access-control hook").ConfigureAwait(false);
            return;
        }

        string? ipKey = connection.RemoteAddress.TryGetIPAddress(out IPAddress? ip) ? ip.ToString() : null;
        if (!_connectPeerLimiter.TryAcquire(from, options.ConnectRateLimitPerPeer.Permits, options.ConnectRateLimitPerPeer.Period)
            || (ipKey is not null && !_connectIpLimiter.TryAcquire(ipKey, options.ConnectRateLimitPerIp.Permits, options.ConnectRateLimitPerIp.Period)))
        {
            await RefuseConnectAsync(request, target, RelayStatus.ResourceLimitExceeded, "rate limited").ConfigureAwait(false);
            return;
        }

        if (!HasReservation(target))
        {
            await RefuseConnectAsync(request, target, RelayStatus.NoReservation, "the target holds no reservation").ConfigureAwait(false);
            return;
        }

        RelayLoadLevel level = EvaluateLoad(options);
        if (level == RelayLoadLevel.Refusing)
        {
            await RefuseConnectAsync(request, target, RelayStatus.ResourceLimitExceeded, "relay under load").ConfigureAwait(false);
            return;
        }

        if (!TryAddCircuit(from, target, options, out string? capReason))
        {
            await RefuseConnectAsync(request, target, RelayStatus.ResourceLimitExceeded, capReason).ConfigureAwait(false);
            return;
        }

        // The slot is given back before anyone hears the outcome, so a peer that retries at once is not
        // refused for a circuit that no longer exists (and statistics and events agree with what peers see).
        bool slotHeld = true;
        try
        {
            RelayLimit? limit = options.GetCircuitLimit(level);
            ILibp2pStream stop;
            try
            {
                stop = await OutboundStop.ConnectAsync(_host, from, target, limit, options.ConnectTimeout, options.StreamTimeout, _time, _shutdown.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is IOException or OperationCanceledException)
            {
                RemoveCircuit(from, target);
                slotHeld = false;
                (RelayStatus status, string reason) = StopFailure(ex);
                await RefuseConnectAsync(request, target, status, reason).ConfigureAwait(false);
                return;
            }

            ILibp2pStream? source = await request.AcceptAsync(limit).ConfigureAwait(false);
            if (source is null)
            {
                // The source's stream failed under the answer (the request reset it): the circuit never existed.
                RemoveCircuit(from, target);
                slotHeld = false;
                stop.Abort();
                await stop.DisposeAsync().ConfigureAwait(false);
                return;
            }

            // From here the splice owns the slot and gives it back when the circuit ends, before CircuitClosed.
            slotHeld = false;
            await SpliceAsync(source, stop, from, target, limit, options).ConfigureAwait(false);
        }
        finally
        {
            if (slotHeld)
            {
                RemoveCircuit(from, target);
            }
        }
    }

    /// <summary>
    /// What the source hears when the stop leg failed: the target's refusal when it is one a relay passes on
    /// (NO_RESERVATION, RESOURCE_LIMIT_EXCEEDED, PERMISSION_DENIED, CONNECTION_FAILED); CONNECTION_FAILED for
    /// anything else (I/O failure, timeout, protocol violation by the target, another status, shutdown).
    /// </summary>
    private static (RelayStatus Status, string Reason) StopFailure(Exception failure) => failure switch
    {
        RelayException { Kind: RelayErrorKind.Refused, Status: RelayStatus.NoReservation or RelayStatus.ResourceLimitExceeded or RelayStatus.PermissionDenied or RelayStatus.ConnectionFailed } refused
            => (refused.Status, refused.Message),
        RelayException other => (RelayStatus.ConnectionFailed, other.Message),
        _ => (RelayStatus.ConnectionFailed, "stop: relay shutting down"),
    };

    private async Task SpliceAsync(ILibp2pStream source, ILibp2pStream stop, PeerId from, PeerId target, RelayLimit? limit, RelayServerOptions options)
    {
        var splice = new CircuitSplice(source, stop, limit, options.BufferSize, _time, _shutdown.Token)
        {
            SourceBandwidth = AcquireBandwidth(from, options),
            TargetBandwidth = AcquireBandwidth(target, options),
            OnBytesToTarget = bytes =>
            {
                Interlocked.Add(ref _bytesToTarget, bytes);
                _metrics.BytesRelayed.Add(bytes, RelayMetrics.ToTarget);
            },
            OnBytesToSource = bytes =>
            {
                Interlocked.Add(ref _bytesToSource, bytes);
                _metrics.BytesRelayed.Add(bytes, RelayMetrics.ToSource);
            },
        };

        lock (_lock)
        {
            _circuits.Add(splice);
        }

        long started = _time.GetTimestamp();
        Interlocked.Increment(ref _circuitsOpened);
        _metrics.ActiveCircuits.Add(1);
        _metrics.CircuitRequests.Add(1, RelayMetrics.StatusTag(RelayStatus.Ok));
        RelayLog.CircuitOpened(_logger, from, target);
        Raise(CircuitOpened, new RelayCircuitEventArgs(from, target, RelayStatus.Ok));
        if (_shutdown.IsCancellationRequested)
        {
            splice.Stop(CircuitCloseReason.RelayShutdown);
        }

        CircuitCloseReason reason;
        try
        {
            reason = await splice.RunAsync().ConfigureAwait(false);
        }
        finally
        {
            lock (_lock)
            {
                _circuits.Remove(splice);
            }

            RemoveCircuit(from, target);
            ReleaseBandwidth(from);
            ReleaseBandwidth(target);
        }

        TimeSpan lifetime = _time.GetElapsedTime(started);
        Interlocked.Increment(ref _circuitsClosed);
        _metrics.ActiveCircuits.Add(-1);
        _metrics.CircuitsClosed.Add(1, new KeyValuePair<string, object?>("reason", reason.ToString()));
        _metrics.CircuitDuration.Record(lifetime.TotalSeconds);
        RelayLog.CircuitClosed(_logger, from, target, reason, splice.BytesToTarget, splice.BytesToSource);
        Raise(CircuitClosed, new RelayCircuitEventArgs(from, target, RelayStatus.Ok)
        {
            Reason = reason,
            BytesToTarget = splice.BytesToTarget,
            BytesToSource = splice.BytesToSource,
            Duration = lifetime,
        });
    }

    private async Task RefuseConnectAsync(CircuitRequest request, PeerId? target, RelayStatus status, string reason)
    {
        PeerId from = request.Peer;
        Interlocked.Increment(ref _connectsRefused);
        _metrics.CircuitRequests.Add(1, RelayMetrics.StatusTag(status));
        RelayLog.ConnectRefused(_logger, from, target, status, reason);
        await request.DenyAsync(status).ConfigureAwait(false);
        Raise(ConnectRefused, new RelayCircuitEventArgs(from, target, status));
    }

    private bool TryAddCircuit(PeerId from, PeerId target, RelayServerOptions options, [System.Diagnostics.CodeAnalysis.NotNullWhen(false)] out string? reason)
    {
        lock (_lock)
        {
            if (_circuitCount >= options.MaxCircuits)
            {
                reason = "too many circuits on the relay";
                return false;
            }

            if (_circuitsPerPeer.GetValueOrDefault(from) >= options.MaxCircuitsPerPeer)
            {
                reason = "too many circuits for the source";
                return false;
            }

            if (_circuitsPerPeer.GetValueOrDefault(target) >= options.MaxCircuitsPerPeer)
            {
                reason = "too many circuits for the target";
                return false;
            }

            _circuitCount++;
            _circuitsPerPeer[from] = _circuitsPerPeer.GetValueOrDefault(from) + 1;
            _circuitsPerPeer[target] = _circuitsPerPeer.GetValueOrDefault(target) + 1;
            reason = null;
            return true;
        }
    }

    private void RemoveCircuit(PeerId from, PeerId target)
    {
        lock (_lock)
        {
            _circuitCount--;
            Decrement(from);
            Decrement(target);
        }

        void Decrement(PeerId peer)
        {
            int count = _circuitsPerPeer.GetValueOrDefault(peer) - 1;
            if (count <= 0)
            {
                _circuitsPerPeer.Remove(peer);
            }
            else
            {
                _circuitsPerPeer[peer] = count;
            }
        }
    }

    private TokenBucket? AcquireBandwidth(PeerId peer, RelayServerOptions options)
    {
        lock (_lock)
        {
            if (!_bandwidth.TryGetValue(peer, out BandwidthEntry? entry))
            {
                entry = new BandwidthEntry(new TokenBucket(double.MaxValue, double.MaxValue, _time));
                ConfigureBucket(entry.Bucket, options);
                _bandwidth[peer] = entry;
            }

            entry.References++;
            return entry.Bucket;
        }
    }

    private void ReleaseBandwidth(PeerId peer)
    {
        lock (_lock)
        {
            if (_bandwidth.TryGetValue(peer, out BandwidthEntry? entry) && --entry.References == 0)
            {
                _bandwidth.Remove(peer);
            }
        }
    }

    private void UpdateBandwidthBuckets(RelayServerOptions options)
    {
        lock (_lock)
        {
            foreach (BandwidthEntry entry in _bandwidth.Values)
            {
                ConfigureBucket(entry.Bucket, options);
            }
        }
    }

    /// <summary>No cap is a bucket so large it never waits; a cap takes effect on live circuits at once.</summary>
    private static void ConfigureBucket(TokenBucket bucket, RelayServerOptions options)
    {
        if (options.MaxBandwidthPerPeer <= 0)
        {
            bucket.Update(double.MaxValue, double.MaxValue);
            return;
        }

        double burst = options.BandwidthBurstPerPeer > 0 ? options.BandwidthBurstPerPeer : options.MaxBandwidthPerPeer;
        bucket.Update(options.MaxBandwidthPerPeer, burst);
    }
}
