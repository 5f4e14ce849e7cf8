using System.Diagnostics.Metrics;
using CircuitRelay.Diagnostics;
using CircuitRelay.Abstractions;
using CircuitRelay.Internal;
using CircuitRelay.Protocol;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace CircuitRelay.Server;

/// <summary>
/// The Circuit Relay v2 service: answers hop RESERVE and CONNECT requests, opens stop streams to
/// targets over their existing connections, and splices circuits with exact limits.
/// </summary>
/// <remarks>
/// Create it, call <see cref="Start"/> to mount the hop protocol on the host, and dispose it to stop:
/// disposal unmounts the protocol, resets live circuits and drops every reservation.
/// </remarks>
public sealed partial class RelayServer : IAsyncDisposable
{
    private readonly ILibp2pHost _host;

    /// <summary>The tag under which a reservation holder's connection is protected from idle trimming.</summary>
    internal const string ReservationProtectionTag = "circuit-relay-reservation";

    private readonly IConnectionManagerFeature? _connectionManager;
    private readonly ILogger _logger;
    private readonly RelayServerMetrics _metrics;
    private readonly TimeProvider _time;
    private readonly IDisposable? _optionsSubscription;
    private readonly CancellationTokenSource _shutdown = new();
    private readonly Lock _lock = new();
    private readonly TaskTracker _running = new();
    private readonly KeyedRateLimiter<PeerId> _reservePeerLimiter;
    private readonly KeyedRateLimiter<string> _reserveIpLimiter;
    private readonly KeyedRateLimiter<PeerId> _connectPeerLimiter;
    private readonly KeyedRateLimiter<string> _connectIpLimiter;
    private RelayServerOptions _options;
    private int _started;
    private int _disposed;

    // Counters behind GetStatistics.
    private int _pendingRequests;
    private long _reservationsAccepted;
    private long _reservationsRenewed;
    private bool _acceptingReservations = true;
    private long _reservationsRefused;
    private long _reservationsExpired;
    private long _circuitsOpened;
    private long _circuitsClosed;
    private long _connectsRefused;
    private long _requestsRejected;
    private long _bytesToTarget;
    private readonly WatermarkLoadPolicy _defaultLoadPolicy = new();
    private readonly Lock _rateLock = new();
    private long _rateSampleAt;
    private long _rateSampleBytes;
    private double _bytesPerSecond;
    private int _loadLevel;
    private long _bytesToSource;

    /// <summary>Creates a relay service with fixed options (change them later with <see cref="UpdateOptions"/>).</summary>
    /// <param name="host">The host whose peers the relay serves.</param>
    /// <param name="options">The options; validated now.</param>
    /// <param name="loggerFactory">Where logs go.</param>
    /// <param name="meterFactory">Where metrics go (meter <c>CircuitRelay</c>).</param>
    /// <param name="timeProvider">The clock for TTLs, limits, timeouts and rate limits.</param>
    public RelayServer(ILibp2pHost host, RelayServerOptions options, ILoggerFactory loggerFactory, IMeterFactory meterFactory, TimeProvider timeProvider)
    {
        ArgumentNullException.ThrowIfNull(host);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(loggerFactory);
        ArgumentNullException.ThrowIfNull(meterFactory);
        ArgumentNullException.ThrowIfNull(timeProvider);
        options.Validate();
        _host = host;
        _connectionManager = host.GetFeature<IConnectionManagerFeature>();
        _options = options.Clone();
        _logger = loggerFactory.CreateLogger<RelayServer>();
        _metrics = new RelayServerMetrics(meterFactory, () => Volatile.Read(ref _loadLevel));
        _time = timeProvider;
        _reservePeerLimiter = new(timeProvider);
        _reserveIpLimiter = new(timeProvider);
        _connectPeerLimiter = new(timeProvider);
        _connectIpLimiter = new(timeProvider);
    }

    /// <summary>Creates a relay service that follows <paramref name="options"/>: changes apply without a restart.</summary>
    public RelayServer(ILibp2pHost host, IOptionsMonitor<RelayServerOptions> options, ILoggerFactory loggerFactory, IMeterFactory meterFactory, TimeProvider timeProvider)
        : this(host, (options ?? throw new ArgumentNullException(nameof(options))).CurrentValue, loggerFactory, meterFactory, timeProvider)
    {
        _optionsSubscription = options.OnChange(changed =>
        {
            try
            {
                UpdateOptions(changed);
            }
            catch (ArgumentException ex)
            {
                // A bad reload keeps the options in force instead of breaking the configuration pipeline.
                RelayLog.InvalidOptionsIgnored(_logger, ex.Message);
            }
        });
    }

    /// <summary>
    /// Whether reservations are granted and renewed (default true). A node that stops serving as a relay (its role is no
    /// longer public) sets it false: new reservations and renewals are refused with <c>RESERVATION_REFUSED</c>, while
    /// circuits already running, and circuits to peers whose reservation has not expired, go on.
    /// </summary>
    public bool AcceptingReservations
    {
        get => Volatile.Read(ref _acceptingReservations);
        set => Volatile.Write(ref _acceptingReservations, value);
    }

    /// <summary>Raised for every reservation granted, renewed, refused, expired or dropped.</summary>
    public event EventHandler<RelayReservationEventArgs>? ReservationChanged;

    /// <summary>Raised when a circuit starts relaying.</summary>
    public event EventHandler<RelayCircuitEventArgs>? CircuitOpened;

    /// <summary>Raised when a circuit ends, with the reason and the bytes relayed each way.</summary>
    public event EventHandler<RelayCircuitEventArgs>? CircuitClosed;

    /// <summary>Raised when a connect request is refused, with the status sent.</summary>
    public event EventHandler<RelayCircuitEventArgs>? ConnectRefused;

    /// <summary>The options in force (a copy).</summary>
    public RelayServerOptions Options => Volatile.Read(ref _options).Clone();

    /// <summary>Mounts <c>/libp2p/circuit/relay/0.2.0/hop</c> on the host.</summary>
    public void Start()
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        if (Interlocked.Exchange(ref _started, 1) != 0)
        {
            return;
        }

        _host.ConnectionClosed += OnConnectionClosed;
        _host.SetStreamHandler(RelayProtocol.Hop, HandleHopAsync);
        RelayLog.ServerStarted(_logger, _host.Identity.PeerId);
    }

    /// <summary>
    /// Replaces the options at run time. New requests use the new caps, limits and rate limits at once;
    /// the per-peer bandwidth cap also applies to live circuits. Live circuits keep the limit they were granted.
    /// </summary>
    public void UpdateOptions(RelayServerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        RelayServerOptions copy = options.Clone();
        Volatile.Write(ref _options, copy);
        UpdateBandwidthBuckets(copy);
    }

    /// <summary>A snapshot of the relay's counters.</summary>
    public RelayServerStatistics GetStatistics()
    {
        lock (_lock)
        {
            return new RelayServerStatistics
            {
                ActiveReservations = _reservations.Count,
                ActiveCircuits = _circuitCount,
                PendingRequests = Volatile.Read(ref _pendingRequests),
                TrackedPeers = _bandwidth.Count,
                ReservationsAccepted = Interlocked.Read(ref _reservationsAccepted),
                ReservationsRenewed = Interlocked.Read(ref _reservationsRenewed),
                ReservationsRefused = Interlocked.Read(ref _reservationsRefused),
                ReservationsExpired = Interlocked.Read(ref _reservationsExpired),
                CircuitsOpened = Interlocked.Read(ref _circuitsOpened),
                CircuitsClosed = Interlocked.Read(ref _circuitsClosed),
                ConnectsRefused = Interlocked.Read(ref _connectsRefused),
                RequestsRejected = Interlocked.Read(ref _requestsRejected),
                BytesToTarget = Interlocked.Read(ref _bytesToTarget),
                BytesToSource = Interlocked.Read(ref _bytesToSource),
                LoadLevel = (RelayLoadLevel)Volatile.Read(ref _loadLevel),
            };
        }
    }

    /// <summary>Asks the load policy how to treat a new request now; logs when the level changes.</summary>
    private RelayLoadLevel EvaluateLoad(RelayServerOptions options)
    {
        IRelayLoadPolicy policy = options.LoadPolicy ?? _defaultLoadPolicy;
        int circuits;
        lock (_lock)
        {
            circuits = _circuitCount;
        }

        bool measureMemory = policy is not WatermarkLoadPolicy watermarks || watermarks.WatchesMemory;
        var load = new RelayLoad(circuits, options.MaxCircuits, BytesPerSecond(), measureMemory ? GC.GetTotalMemory(forceFullCollection: false) : 0);
        RelayLoadLevel level = policy.Evaluate(load);
        int previous = Interlocked.Exchange(ref _loadLevel, (int)level);
        if (previous != (int)level)
        {
            RelayLog.LoadLevelChanged(_logger, (RelayLoadLevel)previous, level, load.ActiveCircuits, load.MaxCircuits, (long)load.BytesPerSecond, load.MemoryBytes);
        }

        return level;
    }

    /// <summary>Bytes relayed per second, both directions, over the last second or more (on the injected clock).</summary>
    private double BytesPerSecond()
    {
        long bytes = Interlocked.Read(ref _bytesToTarget) + Interlocked.Read(ref _bytesToSource);
        lock (_rateLock)
        {
            if (_rateSampleAt == 0)
            {
                _rateSampleAt = _time.GetTimestamp();
                _rateSampleBytes = bytes;
                return 0;
            }

            TimeSpan elapsed = _time.GetElapsedTime(_rateSampleAt);
            if (elapsed >= TimeSpan.FromSeconds(1))
            {
                _bytesPerSecond = (bytes - _rateSampleBytes) / elapsed.TotalSeconds;
                _rateSampleAt = _time.GetTimestamp();
                _rateSampleBytes = bytes;
            }

            return _bytesPerSecond;
        }
    }

    /// <summary>Whether <paramref name="peer"/> holds a live reservation.</summary>
    public bool HasReservation(PeerId peer)
    {
        lock (_lock)
        {
            return _reservations.TryGetValue(peer, out var entry) && entry.Expiry > _time.GetUtcNow();
        }
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        _optionsSubscription?.Dispose();
        if (Volatile.Read(ref _started) != 0)
        {
            _host.RemoveStreamHandler(RelayProtocol.Hop);
            _host.ConnectionClosed -= OnConnectionClosed;
        }

        await _shutdown.CancelAsync().ConfigureAwait(false);
        CircuitSplice[] circuits;
        lock (_lock)
        {
            circuits = [.. _circuits];
        }

        foreach (CircuitSplice circuit in circuits)
        {
            circuit.Stop(CircuitCloseReason.RelayShutdown);
        }

        await _running.CloseAsync().ConfigureAwait(false);
        lock (_lock)
        {
            foreach (ReservationEntry entry in _reservations.Values)
            {
                entry.Timer.Dispose();
                _connectionManager?.Unprotect(entry.Peer, ReservationProtectionTag);
            }

            _metrics.ActiveReservations.Add(-_reservations.Count);
            _reservations.Clear();
        }

        _shutdown.Dispose();
    }

    private Task HandleHopAsync(ILibp2pStream stream, CancellationToken cancellationToken)
    {
        Task? task = _shutdown.IsCancellationRequested ? null : _running.TryRun(() => ServeHopAsync(stream));
        if (task is null)
        {
            stream.Abort();
            return Task.CompletedTask;
        }

        return task;
    }

    private async Task ServeHopAsync(ILibp2pStream stream)
    {
        await Task.Yield();
        PeerId remote = stream.Connection.RemotePeer;
        RelayServerOptions options = Volatile.Read(ref _options);
        bool pending = true;

        // Started before it is counted: the read arms its stream timeout synchronously, so whoever sees the request
        // pending sees its timer running.
        Task<HopRequest> read = InboundHop.ReadRequestAsync(stream, options.StreamTimeout, _time, _shutdown.Token);
        Interlocked.Increment(ref _pendingRequests);
        try
        {
            HopRequest request;
            try
            {
                request = await read.ConfigureAwait(false);
            }
            catch (RelayException ex) when (ex.Kind == RelayErrorKind.ProtocolViolation)
            {
                await RejectAsync(stream, ex.Status, ex.Message).ConfigureAwait(false);
                return;
            }
            catch (Exception ex) when (ex is IOException or OperationCanceledException)
            {
                Interlocked.Increment(ref _requestsRejected);
                string reason = ex switch
                {
                    RelayException { Kind: RelayErrorKind.Timeout } => "no request before the stream timeout",
                    OperationCanceledException => "relay shutting down",
                    _ => ex.Message,
                };
                RelayLog.HopRejected(_logger, remote, RelayStatus.ConnectionFailed, reason);
                stream.Abort();
                await stream.DisposeAsync().ConfigureAwait(false);
                return;
            }

            switch (request)
            {
                case ReservationRequest reservation:
                    await HandleReserveAsync(reservation, options).ConfigureAwait(false);
                    break;
                case CircuitRequest circuit:
                    Interlocked.Decrement(ref _pendingRequests);
                    pending = false;
                    await HandleConnectAsync(circuit, options).ConfigureAwait(false);
                    break;
            }
        }
        catch (Exception ex)
        {
            // Whatever happens, one bad stream never takes the relay down.
            RelayLog.HopFailed(_logger, remote, ex);
            stream.Abort();
            await stream.DisposeAsync().ConfigureAwait(false);
        }
        finally
        {
            if (pending)
            {
                Interlocked.Decrement(ref _pendingRequests);
            }
        }
    }

    /// <summary>A hop stream whose request could not be served: answer <paramref name="status"/> and close.</summary>
    private async Task RejectAsync(ILibp2pStream stream, RelayStatus status, string reason)
    {
        Interlocked.Increment(ref _requestsRejected);
        RelayLog.HopRejected(_logger, stream.Connection.RemotePeer, status, reason);
        await InboundHop.RejectAsync(stream, status, Volatile.Read(ref _options).StreamTimeout, _time, _shutdown.Token).ConfigureAwait(false);
    }

    private void Raise<T>(EventHandler<T>? handler, T args)
    {
        if (handler is null)
        {
            return;
        }

        try
        {
            handler(this, args);
        }
#pragma warning disable CA1031 // A subscriber's bug must not break the relay.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            RelayLog.HopFailed(_logger, _host.Identity.PeerId, ex);
        }
    }
}
