using CircuitRelay.Adverts;
using CircuitRelay.AutoRelay;
using CircuitRelay.Server;
using Microsoft.Extensions.Logging;

namespace CircuitRelay.AutoNat;

/// <summary>When a node serves as a relay.</summary>
public enum RelayServiceMode
{
    /// <summary>While its role is public (AutoNAT's or a forced one).</summary>
    Auto,

    /// <summary>Always, whatever the role.</summary>
    On,

    /// <summary>Never.</summary>
    Off,
}

/// <summary>Options of <see cref="RoleCoordinator"/>.</summary>
public sealed class RoleCoordinatorOptions
{
    /// <summary>When the node serves as a relay. Default <see cref="RelayServiceMode.Auto"/>.</summary>
    public RelayServiceMode RelayService { get; set; }

    /// <summary>
    /// Whether the AutoRelay worker keeps its reservations while the role is public (for a node given static relays
    /// by hand). Default false: a public node needs none and releases them.
    /// </summary>
    public bool ReserveWhilePublic { get; set; }
}

/// <summary>What <see cref="RoleCoordinator"/> did for a role.</summary>
/// <param name="role">The role applied.</param>
/// <param name="servingAsRelay">Whether the node now grants reservations and publishes its relay advert.</param>
/// <param name="reserving">Whether the AutoRelay worker now runs.</param>
public sealed class RoleAppliedEventArgs(NodeRole role, bool servingAsRelay, bool reserving) : EventArgs
{
    /// <summary>The role applied.</summary>
    public NodeRole Role { get; } = role;

    /// <summary>Whether the node now grants reservations and publishes its relay advert.</summary>
    public bool ServingAsRelay { get; } = servingAsRelay;

    /// <summary>Whether the AutoRelay worker now runs.</summary>
    public bool Reserving { get; } = reserving;
}

/// <summary>
/// Acts on the node's role, one change at a time. Public: the relay service grants reservations (the server is created
/// on the first promotion), the relay advert is published, and the AutoRelay worker stops and releases its reservations
/// (unless <see cref="RoleCoordinatorOptions.ReserveWhilePublic"/>). Private or unknown: the relay server refuses new
/// reservations and renewals (circuits already running go on until their limits, no circuit is cut), the advert is
/// withdrawn, and the AutoRelay worker runs. <see cref="Attach"/> follows an <see cref="AutoNatService"/>.
/// </summary>
public sealed class RoleCoordinator : IAsyncDisposable
{
    private readonly RoleCoordinatorOptions _options;
    private readonly Func<RelayServer>? _relayFactory;
    private readonly Func<RelayServer, RelayAdvertPublisher>? _advertFactory;
    private readonly AutoRelayService? _autoRelay;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private AutoNatService? _autonat;
    private RelayServer? _relay;
    private RelayAdvertPublisher? _advert;
    private int _role;
    private bool _disposed;

    /// <summary>Creates the coordinator; nothing changes before the first <see cref="ApplyAsync"/>.</summary>
    /// <param name="options">When to serve and reserve.</param>
    /// <param name="loggerFactory">Where each applied role is logged.</param>
    /// <param name="relayFactory">Creates and starts the relay server on the first promotion (null: the node never serves).</param>
    /// <param name="advertFactory">Creates the relay advert publisher of a serving relay (null: no advert).</param>
    /// <param name="autoRelay">The AutoRelay worker to start and stop (null: the node never reserves).</param>
    public RoleCoordinator(RoleCoordinatorOptions options, ILoggerFactory loggerFactory, Func<RelayServer>? relayFactory = null, Func<RelayServer, RelayAdvertPublisher>? advertFactory = null, AutoRelayService? autoRelay = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(loggerFactory);
        _options = options;
        _relayFactory = relayFactory;
        _advertFactory = advertFactory;
        _autoRelay = autoRelay;
        _logger = loggerFactory.CreateLogger<RoleCoordinator>();
    }

    /// <summary>Raised after a role was applied (also when it was applied again and nothing changed).</summary>
    public event EventHandler<RoleAppliedEventArgs>? RoleApplied;

    /// <summary>The role last applied.</summary>
    public NodeRole Role => (NodeRole)Volatile.Read(ref _role);

    /// <summary>The relay server, once the node served as a relay.</summary>
    public RelayServer? Relay => Volatile.Read(ref _relay);

    /// <summary>The relay advert publisher while the node serves as a relay.</summary>
    public RelayAdvertPublisher? AdvertPublisher => Volatile.Read(ref _advert);

    /// <summary>Follows <paramref name="autonat"/>: applies its role now and on every change.</summary>
    public Task Attach(AutoNatService autonat, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(autonat);
        _autonat = autonat;
        autonat.ReachabilityChanged += OnReachabilityChanged;
        return ApplyAsync(autonat.Role, cancellationToken);
    }

    /// <summary>Applies <paramref name="role"/>: starts or stops serving as a relay and reserving, as the options say.</summary>
    public async Task ApplyAsync(NodeRole role, CancellationToken cancellationToken = default)
    {
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_disposed)
            {
                return;
            }

            bool serve = _relayFactory is not null && (_options.RelayService == RelayServiceMode.On || (_options.RelayService == RelayServiceMode.Auto && role == NodeRole.Public));
            bool reserve = _autoRelay is not null && (role != NodeRole.Public || _options.ReserveWhilePublic);
            if (serve)
            {
                if (_relay is null)
                {
                    Volatile.Write(ref _relay, _relayFactory!());
                }

                _relay!.AcceptingReservations = true;
                if (_advert is null && _advertFactory is not null)
                {
                    Volatile.Write(ref _advert, _advertFactory(_relay));
                }
            }
            else
            {
                if (_relay is not null)
                {
                    _relay.AcceptingReservations = false;
                }

                Interlocked.Exchange(ref _advert, null)?.Dispose();
            }

            if (reserve)
            {
                _autoRelay!.Start();
            }
            else if (_autoRelay is not null)
            {
                await _autoRelay.StopAsync(cancellationToken).ConfigureAwait(false);
            }

            Volatile.Write(ref _role, (int)role);
            AutoNatLog.RoleApplied(_logger, role, serve, reserve);
            RoleApplied?.Invoke(this, new RoleAppliedEventArgs(role, serve, reserve));
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>Stops following AutoNAT and withdraws the advert (the relay server and the worker are their owners' to dispose). Idempotent.</summary>
    public async ValueTask DisposeAsync()
    {
        if (_autonat is not null)
        {
            _autonat.ReachabilityChanged -= OnReachabilityChanged;
        }

        await _gate.WaitAsync().ConfigureAwait(false);
        try
        {
            _disposed = true;
            Interlocked.Exchange(ref _advert, null)?.Dispose();
        }
        finally
        {
            _gate.Release();
        }
    }

    private void OnReachabilityChanged(object? sender, NodeRole role) => _ = ApplyInBackgroundAsync(role);

    private async Task ApplyInBackgroundAsync(NodeRole role)
    {
        try
        {
            await ApplyAsync(role).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException or ObjectDisposedException)
        {
            AutoNatLog.RoleFailed(_logger, role, ex.Message);
        }
    }
}
