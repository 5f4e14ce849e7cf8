using System.Diagnostics.Metrics;
using CircuitRelay.Abstractions;
using CircuitRelay.Adverts;
using CircuitRelay.Diagnostics;
using Microsoft.Extensions.Logging;

namespace CircuitRelay.AutoNat;

/// <summary>
/// Learns the node's reachability with AutoNAT: asks connected servers (peers whose Identify lists
/// <see cref="AutoNatV2Server.DialRequestProtocol"/> or <see cref="AutoNatServer.ProtocolId"/>, over direct
/// connections, chosen at random from a seed, none asked again within <see cref="AutoNatServiceOptions.ServerCooldown"/>),
/// often while the answer is unknown and rarely once settled, again when the node's addresses change. A v2 server tests
/// one address (the least known first: external addresses, the observed IP on each listen port, public listen
/// addresses), tracked per address in <see cref="AddressTracker"/>; an address found public is added to the host's
/// external addresses. Both versions feed the node's <see cref="Tracker"/> (no flapping). A forced role
/// (<see cref="AutoNatServiceOptions.ForcedRole"/>) overrides it all.
/// </summary>
public sealed class AutoNatService : IAsyncDisposable
{
    private readonly ILibp2pHost _host;
    private readonly IPeerStoreFeature _peers;
    private readonly IAddressesFeature? _addresses;
    private readonly AutoNatClient _client;
    private readonly AutoNatV2Client _clientV2;
    private readonly ReachabilityTracker _tracker;
    private readonly AddressReachabilityTracker _addressTracker;
    private readonly HashSet<Multiaddr> _confirmed = [];
    private readonly AutoNatServiceOptions _options;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly Random _random;
    private readonly Lock _lock = new();
    private readonly Dictionary<PeerId, DateTimeOffset> _asked = [];
    private readonly SemaphoreSlim _wake = new(0);
    private readonly CancellationTokenSource _shutdown = new();
    private Task? _loop;
    private long _probes;
    private readonly Counter<long> _probeCounter;

    /// <summary>Creates the service; <see cref="Start"/> runs it.</summary>
    /// <exception cref="NotSupportedException">The host lacks <see cref="IPeerStoreFeature"/> (where the servers are found).</exception>
    public AutoNatService(ILibp2pHost host, AutoNatServiceOptions options, ILoggerFactory loggerFactory, IMeterFactory meterFactory, TimeProvider timeProvider)
    {
        ArgumentNullException.ThrowIfNull(host);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(loggerFactory);
        ArgumentNullException.ThrowIfNull(meterFactory);
        ArgumentNullException.ThrowIfNull(timeProvider);
        Meter meter = RelayMetrics.CreateMeter(meterFactory);
        _probeCounter = meter.CreateCounter<long>("libp2p.autonat.probes", "{probe}", "AutoNAT probes sent, by answer (ok, dial_error, dial_refused, bad_request, internal_error, failed: no answer).");
        meter.CreateObservableGauge("libp2p.autonat.reachability", () => (int)Role, "{state}", "The node's role: 0 unknown, 1 public, 2 private.");
        meter.CreateObservableGauge("libp2p.autonat.confidence", () => _tracker!.Run.Count, "{result}", "Agreeing results from distinct networks in the current run toward a change.");
        options.Validate();
        _host = host;
        _peers = host.GetRequiredFeature<IPeerStoreFeature>("AutoNAT");
        _addresses = host.GetFeature<IAddressesFeature>();
        _client = new AutoNatClient(host, timeProvider);
        _clientV2 = new AutoNatV2Client(host, loggerFactory, timeProvider);
        _tracker = new ReachabilityTracker(loggerFactory, options.Confidence);
        _tracker.ReachabilityChanged += (_, role) => ReachabilityChanged?.Invoke(this, role);
        _addressTracker = new AddressReachabilityTracker(loggerFactory, options.Confidence);
        _addressTracker.AddressReachabilityChanged += OnAddressReachabilityChanged;
        _options = options;
        _logger = loggerFactory.CreateLogger<AutoNatService>();
        _time = timeProvider;
        _random = new Random(options.RngSeed);
    }

    /// <summary>Raised when the node's reachability changed (never while a role is forced).</summary>
    public event EventHandler<NodeRole>? ReachabilityChanged;

    /// <summary>The node's role now: the forced one, else what AutoNAT decided.</summary>
    public NodeRole Role => _options.ForcedRole != NodeRole.Unknown ? _options.ForcedRole : _tracker.State;

    /// <summary>The tracker behind <see cref="Role"/> (its current run toward a change).</summary>
    public ReachabilityTracker Tracker => _tracker;

    /// <summary>The reachability of each address AutoNAT v2 has results for.</summary>
    public AddressReachabilityTracker AddressTracker => _addressTracker;

    /// <summary>Raised when an address's reachability changed (AutoNAT v2).</summary>
    public event EventHandler<AddressReachabilityEventArgs>? AddressReachabilityChanged;

    /// <summary>Probes sent so far.</summary>
    public long ProbesSent => Interlocked.Read(ref _probes);

    /// <summary>The role, the run toward a change, the probes sent and each address's reachability now (for an admin endpoint or a <c>metrics</c> command).</summary>
    public AutoNatSnapshot GetSnapshot()
        => AutoNatSnapshot.Capture(_time.GetUtcNow(), Role, _options.ForcedRole != NodeRole.Unknown, _tracker, _addressTracker, ProbesSent);

    /// <summary>Starts probing (nothing when a role is forced).</summary>
    public void Start()
    {
        if (_options.ForcedRole != NodeRole.Unknown)
        {
            return;
        }

        lock (_lock)
        {
            if (_loop is not null)
            {
                return;
            }

            if (_addresses is not null)
            {
                _addresses.AddressesChanged += OnAddressesChanged;
            }

            if (_options.EnableV2)
            {
                _clientV2.Start();
            }

            _loop = Task.Run(() => LoopAsync(_shutdown.Token));
        }
    }

    /// <summary>
    /// Asks one server now (a connected AutoNAT server not asked within the cooldown, chosen at random) and records the
    /// answer. The loop calls it; tests and callers may too.
    /// </summary>
    /// <returns>The answer, or <see langword="null"/> when no server could be asked.</returns>
    public async Task<AutoNatProbeResult?> ProbeOnceAsync(CancellationToken cancellationToken = default)
    {
        PeerId? server = PickServer();
        if (server is null)
        {
            return null;
        }

        ConnectionInfo? direct = _host.GetConnections(server).FirstOrDefault(c => !c.IsRelayed);
        if (direct is null || !direct.RemoteAddress.TryGetIPAddress(out System.Net.IPAddress? serverIp))
        {
            return null;
        }

        PeerRecord? record = _peers.GetPeer(server);
        IReadOnlyList<Multiaddr> candidates = _options.EnableV2 && record?.Supports(AutoNatV2Server.DialRequestProtocol) == true ? V2Candidates() : [];
        if (candidates.Count == 0 && record?.Supports(AutoNatServer.ProtocolId) != true)
        {
            return null; // a v2-only server, and no address worth asking about
        }

        Interlocked.Increment(ref _probes);
        if (candidates.Count > 0)
        {
            return await ProbeV2Async(server, serverIp, candidates, cancellationToken).ConfigureAwait(false);
        }

        try
        {
            AutoNatProbeResult result = await _client.ProbeAsync(server, cancellationToken: cancellationToken).ConfigureAwait(false);
            _probeCounter.Add(1, new KeyValuePair<string, object?>("status", AutoNatServer.StatusTag(result.Status)), new KeyValuePair<string, object?>("version", 1));
            _tracker.Record(serverIp, result.Status);
            return result;
        }
        catch (Exception ex) when (ex is IOException or TimeoutException)
        {
            AutoNatLog.ProbeFailed(_logger, server, ex.Message);
            _probeCounter.Add(1, new KeyValuePair<string, object?>("status", "failed"), new KeyValuePair<string, object?>("version", 1));
            return null;
        }
    }

    private async Task<AutoNatProbeResult?> ProbeV2Async(PeerId server, System.Net.IPAddress serverIp, IReadOnlyList<Multiaddr> candidates, CancellationToken cancellationToken)
    {
        AutoNatV2Result result;
        try
        {
            result = await _clientV2.ProbeAsync(server, candidates, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or TimeoutException)
        {
            AutoNatLog.ProbeFailed(_logger, server, ex.Message);
            _probeCounter.Add(1, new KeyValuePair<string, object?>("status", "failed"), new KeyValuePair<string, object?>("version", 2));
            return null;
        }

        AutoNatStatus status = result.Outcome switch
        {
            AutoNatV2Outcome.Reachable => AutoNatStatus.Ok,
            AutoNatV2Outcome.Unreachable => AutoNatStatus.DialError,
            AutoNatV2Outcome.Refused or AutoNatV2Outcome.Rejected => AutoNatStatus.DialRefused,
            _ => AutoNatStatus.InternalError,
        };
        _probeCounter.Add(1, new KeyValuePair<string, object?>("status", AutoNatServer.StatusTag(status)), new KeyValuePair<string, object?>("version", 2));
        if (result.IsSignal && result.Address is { } tested)
        {
            _addressTracker.Record(tested, serverIp, result.Outcome == AutoNatV2Outcome.Reachable);
            _tracker.Record(serverIp, status);
        }

        return new AutoNatProbeResult(server, status, result.Reason, result.Address) { Version = 2 };
    }

    /// <summary>
    /// The addresses a v2 probe asks about, least known first: external addresses, the observed IPs on each TCP listen
    /// port (what a NAT with a forwarded or endpoint-independent mapping would expose), and the listen addresses;
    /// direct, public unless <see cref="AutoNatServiceOptions.IncludePrivateAddresses"/>, at most 16.
    /// </summary>
    private List<Multiaddr> V2Candidates()
    {
        if (_addresses is null)
        {
            return [];
        }

        var candidates = new List<Multiaddr>();
        void Add(Multiaddr address)
        {
            address = address.WithoutPeerId();
            if (!address.IsRelayed && address.Has("tcp") && address.TryGetIPAddress(out _) && (_options.IncludePrivateAddresses || !AutoRelay.AddressClass.IsPrivate(address)) && !candidates.Contains(address))
            {
                candidates.Add(address);
            }
        }

        foreach (Multiaddr external in _addresses.ExternalAddresses)
        {
            Add(external);
        }

        foreach (ObservedAddress observed in _addresses.ObservedAddresses)
        {
            if (!observed.Address.TryGetIPAddress(out System.Net.IPAddress? ip))
            {
                continue;
            }

            foreach (Multiaddr listen in _addresses.ListenAddresses)
            {
                if (listen.TryGetIPEndPoint(out System.Net.IPEndPoint? endPoint) && endPoint.AddressFamily == ip.AddressFamily && listen.Has("tcp"))
                {
                    Add(Multiaddr.FromIPEndPoint(new System.Net.IPEndPoint(ip, endPoint.Port)));
                }
            }
        }

        foreach (Multiaddr listen in _addresses.ListenAddresses)
        {
            Add(listen);
        }

        // Stable order: unknown addresses first, then those with a run toward a change, settled ones last.
        return
        [
            .. candidates
                .Select((address, index) => (address, index))
                .OrderBy(c => _addressTracker.StateOf(c.address) == NodeRole.Unknown ? 0 : _addressTracker.RunOf(c.address) > 0 ? 1 : 2)
                .ThenBy(c => c.index)
                .Select(c => c.address)
                .Take(16),
        ];
    }

    private void OnAddressReachabilityChanged(object? sender, AddressReachabilityEventArgs e)
    {
        if (_options.ConfirmAddresses && _addresses is not null)
        {
            bool changed;
            lock (_lock)
            {
                changed = e.State == NodeRole.Public ? _confirmed.Add(e.Address) : _confirmed.Remove(e.Address);
            }

            if (changed && e.State == NodeRole.Public)
            {
                _addresses.AddExternalAddress(e.Address);
            }
            else if (changed)
            {
                _addresses.RemoveExternalAddress(e.Address);
            }
        }

        AddressReachabilityChanged?.Invoke(this, e);
    }

    /// <summary>Stops probing. Idempotent.</summary>
    public async ValueTask DisposeAsync()
    {
        if (_shutdown.IsCancellationRequested)
        {
            return;
        }

        if (_addresses is not null)
        {
            _addresses.AddressesChanged -= OnAddressesChanged;
        }

        await _shutdown.CancelAsync().ConfigureAwait(false);
        if (_loop is not null)
        {
            await _loop.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }

        await _clientV2.DisposeAsync().ConfigureAwait(false);

        _shutdown.Dispose();
        _wake.Dispose();
    }

    private PeerId? PickServer()
    {
        DateTimeOffset now = _time.GetUtcNow();
        lock (_lock)
        {
            PeerId[] servers =
            [
                .. _host.Connections()
                    .Where(p => _peers.GetPeer(p) is { } record && (record.Supports(AutoNatServer.ProtocolId) || (_options.EnableV2 && record.Supports(AutoNatV2Server.DialRequestProtocol))))
                    .Where(p => !_asked.TryGetValue(p, out DateTimeOffset at) || now - at >= _options.ServerCooldown)
                    .OrderBy(p => p.ToString(), StringComparer.Ordinal),
            ];
            if (servers.Length == 0)
            {
                return null;
            }

            PeerId chosen = servers[_random.Next(servers.Length)];
            _asked[chosen] = now;
            return chosen;
        }
    }

    private async Task LoopAsync(CancellationToken cancellationToken)
    {
        try
        {
            await Task.Delay(_options.BootDelay, _time, cancellationToken).ConfigureAwait(false);
            while (!cancellationToken.IsCancellationRequested)
            {
                await ProbeOnceAsync(cancellationToken).ConfigureAwait(false);
                bool settled = _tracker.State != NodeRole.Unknown && _tracker.Run.Count == 0;
                using var wakeOrTimer = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                Task timer = Task.Delay(settled ? _options.RefreshInterval : _options.RetryInterval, _time, wakeOrTimer.Token);
                Task woken = _wake.WaitAsync(wakeOrTimer.Token);
                await Task.WhenAny(timer, woken).ConfigureAwait(false);
                await wakeOrTimer.CancelAsync().ConfigureAwait(false);
                await Task.WhenAll(timer, woken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Stopped.
        }
    }

    private void OnAddressesChanged(object? sender, EventArgs e)
    {
        if (!_shutdown.IsCancellationRequested && _wake.CurrentCount == 0)
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
}

/// <summary>The peers a host has connections to.</summary>
internal static class HostConnectionsExtensions
{
    public static IEnumerable<PeerId> Connections(this ILibp2pHost host)
        => host.GetFeature<IConnectionsFeature>() is { } connections
            ? connections.Connections.Where(c => !c.IsRelayed).Select(c => c.RemotePeer).Distinct()
            : [];
}
