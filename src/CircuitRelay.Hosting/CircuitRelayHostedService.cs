using System.Diagnostics.Metrics;
using CircuitRelay.Abstractions;
using CircuitRelay.Adverts;
using CircuitRelay.AutoNat;
using CircuitRelay.AutoRelay;
using CircuitRelay.Client;
using CircuitRelay.Crypto;
using CircuitRelay.ReferenceHost;
using CircuitRelay.Server;
using CircuitRelay.Transport;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace CircuitRelay.Hosting;

/// <summary>
/// Starts the node with the application (host, relay client, AutoNAT servers and service, gossip, AutoRelay, the role
/// coordinator) and stops it with it: new reservations stop, the relay's circuits get up to
/// <see cref="CircuitRelayNodeOptions.ShutdownTimeout"/> to end, then everything is disposed in reverse order.
/// </summary>
internal sealed partial class CircuitRelayHostedService(
    IServiceProvider services,
    CircuitRelayParts parts,
    CircuitRelayNode node,
    IOptions<CircuitRelayNodeOptions> nodeOptions,
    IOptions<ReferenceHostSettings> hostSettings,
    IOptions<RelayClientOptions> clientOptions,
    IOptionsMonitor<RelayServerOptions> serverOptions,
    IOptions<AutoRelayOptions> autoRelayOptions,
    IOptions<RelayPoolOptions> poolOptions,
    IOptions<AutoNatServiceOptions> autoNatOptions,
    IOptions<AutoNatServerOptions> autoNatServerOptions,
    IOptions<AutoNatV2ServerOptions> autoNatV2ServerOptions,
    ILoggerFactory loggerFactory,
    IMeterFactory meterFactory,
    TimeProvider time) : IHostedService, IAsyncDisposable
{
    private readonly ILogger _logger = loggerFactory.CreateLogger<CircuitRelayHostedService>();
    private readonly List<IAsyncDisposable> _owned = [];
    private IDisposable? _reload;
    private RoleCoordinator? _roles;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        try
        {
            await StartPartsAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            node.SetFailed(ex);
            await DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (_roles?.Relay is { } relay)
        {
            relay.AcceptingReservations = false;
            await DrainAsync(relay, nodeOptions.Value.ShutdownTimeout, cancellationToken).ConfigureAwait(false);
        }

        await DisposeAsync().ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        _reload?.Dispose();
        _reload = null;
        for (int i = _owned.Count - 1; i >= 0; i--)
        {
            try
            {
                await _owned[i].DisposeAsync().ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is IOException or OperationCanceledException or ObjectDisposedException)
            {
                Log.DisposeFailed(_logger, _owned[i].GetType().Name, ex.Message);
            }
        }

        _owned.Clear();
    }

    private async Task StartPartsAsync(CancellationToken cancellationToken)
    {
        CircuitRelayNodeOptions options = nodeOptions.Value;
        ILibp2pHost host = parts.HostFactory is { } factory
            ? await factory(services, cancellationToken).ConfigureAwait(false)
            : await StartReferenceHostAsync(cancellationToken).ConfigureAwait(false);
        if (host is IAsyncDisposable ownedHost)
        {
            _owned.Add(ownedHost);
        }

        var client = Own(new RelayClient(host, clientOptions.Value, loggerFactory, meterFactory, time));
        client.Start();
        if (parts.AddCircuitTransport is { } addTransport)
        {
            addTransport(host, new CircuitTransport(client));
        }
        else if (host is Libp2pHost reference)
        {
            reference.AddTransport(new CircuitTransport(client));
        }

        AutoNatService? autoNat = null;
        if (parts.AutoNat)
        {
            Own(new AutoNatServer(host, autoNatServerOptions.Value, loggerFactory, meterFactory, time)).Start();
            Own(new AutoNatV2Server(host, autoNatV2ServerOptions.Value, loggerFactory, meterFactory, time)).Start();
            AutoNatServiceOptions probing = autoNatOptions.Value;
            probing.ForcedRole = options.Role;
            autoNat = Own(new AutoNatService(host, probing, loggerFactory, meterFactory, time));
        }

        AutoRelayService? autoRelay = null;
        RelayAddressBook? book = null;
        if (parts.AutoRelay)
        {
            AutoRelayOptions relaying = autoRelayOptions.Value;
            foreach (string candidate in options.RelayCandidates)
            {
                relaying.Candidates.Add(Multiaddr.Parse(candidate));
            }

            foreach (string relay in options.StaticRelays)
            {
                relaying.StaticRelays.Add(Multiaddr.Parse(relay));
            }

            book = new RelayAddressBook(new RelayAddressBookOptions(), time);
            autoRelay = Own(new AutoRelayService(host, book, new RelayPool(book, poolOptions.Value, time), relaying, loggerFactory, meterFactory, time));
        }

        RoleCoordinator? roles = null;
        if (book is not null && host.GetFeature<IPeerStoreFeature>() is not null)
        {
            Own(new AdvertGossipService(host, book, new AdvertGossipOptions { LocalAdvert = () => roles?.AdvertPublisher?.Current }, loggerFactory, time)).Start();
        }

        roles = Own(new RoleCoordinator(
            new RoleCoordinatorOptions { RelayService = options.RelayService, ReserveWhilePublic = options.StaticRelays.Count > 0 },
            loggerFactory,
            parts.RelayServer ? () => StartRelay(host) : null,
            relay => new RelayAdvertPublisher(host, new RelayAdvertOptions { Capacity = (uint)serverOptions.CurrentValue.MaxReservations }, time, () => relay.GetStatistics().ActiveReservations),
            autoRelay));
        _roles = roles;
        _reload = serverOptions.OnChange(Reload);

        if (autoNat is not null)
        {
            await roles.Attach(autoNat, cancellationToken).ConfigureAwait(false);
            autoNat.Start();
        }
        else
        {
            await roles.ApplyAsync(options.Role, cancellationToken).ConfigureAwait(false);
        }

        node.SetRunning(host, client, autoRelay, autoNat, roles);
        Log.Started(_logger, host.Identity.PeerId, string.Join(' ', host.Addresses), roles.Role);
    }

    private RelayServer StartRelay(ILibp2pHost host)
    {
        var relay = Own(new RelayServer(host, serverOptions.CurrentValue, loggerFactory, meterFactory, time));
        relay.Start();
        return relay;
    }

    /// <summary>Applies reloaded relay options (limits, caps, rates) to the running relay; bad ones are logged and ignored.</summary>
    private void Reload(RelayServerOptions options)
    {
        if (_roles?.Relay is not { } relay)
        {
            return;
        }

        try
        {
            relay.UpdateOptions(options);
            Log.Reloaded(_logger);
        }
        catch (ArgumentException ex)
        {
            Log.ReloadRefused(_logger, ex.Message);
        }
    }

    private async Task<ILibp2pHost> StartReferenceHostAsync(CancellationToken cancellationToken)
    {
        ReferenceHostSettings settings = hostSettings.Value;
        var options = new Libp2pHostOptions { MaxInboundConnections = settings.MaxInboundConnections };
        foreach (string address in settings.ListenAddresses)
        {
            options.ListenAddresses.Add(address);
        }

        Libp2pHost host = await Libp2pHost.StartAsync(LoadIdentity(settings.IdentityPath), options, loggerFactory, time, cancellationToken).ConfigureAwait(false);
        foreach (string address in settings.ExternalAddresses)
        {
            host.AddExternalAddress(Multiaddr.Parse(address));
        }

        return host;
    }

    private async Task DrainAsync(RelayServer relay, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var drained = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        void OnClosed(object? sender, RelayCircuitEventArgs e)
        {
            if (relay.GetStatistics().ActiveCircuits == 0)
            {
                drained.TrySetResult();
            }
        }

        relay.CircuitClosed += OnClosed;
        try
        {
            int active = relay.GetStatistics().ActiveCircuits;
            if (active == 0)
            {
                return;
            }

            Log.Draining(_logger, active, timeout);
            await drained.Task.WaitAsync(timeout, time, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is TimeoutException or OperationCanceledException)
        {
            Log.DrainCut(_logger, relay.GetStatistics().ActiveCircuits);
        }
        finally
        {
            relay.CircuitClosed -= OnClosed;
        }
    }

    private T Own<T>(T part)
        where T : IAsyncDisposable
    {
        _owned.Add(part);
        return part;
    }

    private static KeyIdentity LoadIdentity(string? path) => string.IsNullOrEmpty(path) ? KeyIdentity.Generate() : KeyIdentity.LoadOrCreate(path);

    /// <summary>Log events of the hosting package (ids 800–809).</summary>
    private static partial class Log
    {
        [LoggerMessage(800, LogLevel.Information, "CircuitRelay node {Peer} started at {Addresses}, role {Role}")]
        public static partial void Started(ILogger logger, PeerId peer, string addresses, NodeRole role);

        [LoggerMessage(801, LogLevel.Information, "Stopping: waiting up to {Timeout} for {Circuits} relayed circuits to end")]
        public static partial void Draining(ILogger logger, int circuits, TimeSpan timeout);

        [LoggerMessage(802, LogLevel.Warning, "Stopping: {Circuits} relayed circuits still running at the shutdown timeout are cut")]
        public static partial void DrainCut(ILogger logger, int circuits);

        [LoggerMessage(803, LogLevel.Information, "Relay options reloaded")]
        public static partial void Reloaded(ILogger logger);

        [LoggerMessage(804, LogLevel.Warning, "Reloaded relay options refused, the running ones stay: {Reason}")]
        public static partial void ReloadRefused(ILogger logger, string reason);

        [LoggerMessage(805, LogLevel.Warning, "Disposing {Part} failed: {Reason}")]
        public static partial void DisposeFailed(ILogger logger, string part, string reason);
    }
}
