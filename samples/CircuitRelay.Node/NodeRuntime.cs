using System.Diagnostics.Metrics;
using CircuitRelay.Abstractions;
using CircuitRelay.Adverts;
using CircuitRelay.AutoRelay;
using CircuitRelay.Client;
using CircuitRelay.Crypto;
using CircuitRelay.ReferenceHost;
using CircuitRelay.Server;
using CircuitRelay.Transport;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace CircuitRelay.Node;

/// <summary>
/// What every subcommand shares: identity, logging, the host, the relay client and the circuit transport (added to
/// the host as a transport, so the host dials circuit addresses and listens through relays like any other address).
/// </summary>
internal sealed class NodeRuntime : IAsyncDisposable
{
    private readonly List<IAsyncDisposable> _owned = [];
    private RelayAdvertPublisher? _publisher;
    private AdvertGossipService? _gossip;

    private NodeRuntime(ILoggerFactory loggerFactory, NodeMeterFactory meters, Libp2pHost host, RelayClient client, CircuitTransport transport)
    {
        LoggerFactory = loggerFactory;
        Meters = meters;
        Host = host;
        Client = client;
        Transport = transport;
    }

    public ILoggerFactory LoggerFactory { get; }

    public NodeMeterFactory Meters { get; }

    public Libp2pHost Host { get; }

    public RelayClient Client { get; }

    public CircuitTransport Transport { get; }

    public PeerId Id => Host.Identity.PeerId;

    /// <summary>The relays this node knows of, from candidates, gossip, Identify and its own reservations.</summary>
    public RelayAddressBook Book { get; } = new(new RelayAddressBookOptions(), TimeProvider.System);

    /// <param name="configure">Adjusts the host's options (listen addresses are already in them).</param>
    /// <param name="clientOptions">The relay client's options (defaults when null).</param>
    public static async Task<NodeRuntime> StartAsync(string? identityPath, IEnumerable<string> listen, bool verbose, CancellationToken cancellationToken, Action<Libp2pHostOptions>? configure = null, RelayClientOptions? clientOptions = null)
    {
        ILoggerFactory loggerFactory = Microsoft.Extensions.Logging.LoggerFactory.Create(builder =>
        {
            // Logs go to stderr: stdout carries one machine-readable event per line.
            builder.AddSimpleConsole(o =>
            {
                o.SingleLine = true;
                o.TimestampFormat = "HH:mm:ss.fff ";
            });
            builder.Services.Configure<Microsoft.Extensions.Logging.Console.ConsoleLoggerOptions>(o => o.LogToStandardErrorThreshold = LogLevel.Trace);
            builder.SetMinimumLevel(verbose ? LogLevel.Debug : LogLevel.Warning);
        });
        KeyIdentity identity = LoadOrCreateIdentity(identityPath);
        var options = new Libp2pHostOptions();
        foreach (string address in listen)
        {
            options.ListenAddresses.Add(address);
        }

        configure?.Invoke(options);

        Libp2pHost host = await Libp2pHost.StartAsync(identity, options, loggerFactory, TimeProvider.System, cancellationToken);
        var meters = new NodeMeterFactory();
        var client = new RelayClient(host, clientOptions ?? new RelayClientOptions(), loggerFactory, meters, TimeProvider.System);
        client.Start();
        var transport = new CircuitTransport(client);
        host.AddTransport(transport);
        EchoProtocol.Mount(host);
        var runtime = new NodeRuntime(loggerFactory, meters, host, client, transport);
        Output.Line($"peer {host.Identity.PeerId}");
        return runtime;
    }

    /// <summary>The relay server, once <see cref="CreateRelay"/> made it.</summary>
    public RelayServer? Relay { get; private set; }

    /// <summary>Creates and starts the relay server (a <see cref="RoleCoordinator"/> calls it on the first promotion).</summary>
    public RelayServer CreateRelay(RelayServerOptions options)
    {
        Relay = Own(new RelayServer(Host, options, LoggerFactory, Meters, TimeProvider.System));
        Relay.Start();
        return Relay;
    }

    /// <summary>
    /// Seals this node's relay advert for <paramref name="relay"/> (its capacity, unless given, the relay's reservation
    /// cap) and gossips it on every change; its owner disposes it when the node stops serving.
    /// </summary>
    public RelayAdvertPublisher CreateAdvertPublisher(RelayServer relay, RelayAdvertOptions advert, int maxReservations)
    {
        advert.Capacity = advert.Capacity == 0 ? (uint)maxReservations : advert.Capacity;
        var publisher = new RelayAdvertPublisher(Host, advert, TimeProvider.System, () => relay.GetStatistics().ActiveReservations);
        publisher.Changed += (_, _) => _ = _gossip?.PushToAllAsync(CancellationToken.None);
        return publisher;
    }

    /// <summary>Where gossip finds this node's own advert while it serves as a relay (null: it sends none).</summary>
    public Func<RelayAdvertPublisher?>? AdvertSource { get; set; }

    /// <summary>Serves as a relay for good, with this node's advert sealed and gossiped; prints <c>relay-service on</c>.</summary>
    public RelayServer StartRelayService(RelayServerOptions options, RelayAdvertOptions advert)
    {
        RelayServer relay = CreateRelay(options);
        RelayAdvertPublisher publisher = CreateAdvertPublisher(relay, advert, options.MaxReservations);
        _publisher = publisher;
        AdvertSource = () => publisher;
        Output.Line("relay-service on");
        return relay;
    }

    /// <summary>Gossips relay adverts with every peer (this node's own first, while it serves as a relay) into <see cref="Book"/>.</summary>
    public AdvertGossipService StartGossip()
    {
        _gossip = Own(new AdvertGossipService(
            Host,
            Book,
            new AdvertGossipOptions { LocalAdvert = () => AdvertSource?.Invoke()?.Current },
            LoggerFactory,
            TimeProvider.System));
        _gossip.Start();
        return _gossip;
    }

    /// <summary>
    /// Runs the AutoRelay worker over <see cref="Book"/>: prints <c>reachable &lt;circuit addr&gt;</c> when a reservation
    /// becomes live and <c>unreachable &lt;circuit addr&gt;</c> when one ends.
    /// </summary>
    public AutoRelayService StartAutoRelay(AutoRelayOptions options, RelayPoolOptions pool, bool start = true)
    {
        AutoRelayService worker = Own(new AutoRelayService(Host, Book, new RelayPool(Book, pool, TimeProvider.System), options, LoggerFactory, Meters, TimeProvider.System));
        worker.ReservationOpened += (_, e) => PrintCircuits("reachable", e);
        worker.ReservationEnded += (_, e) =>
        {
            PrintCircuits("unreachable", e);
            Output.Log($"reservation on {e.Relay} ended: {e.Reason}");
        };
        if (start)
        {
            worker.Start();
        }

        return worker;
    }

    /// <summary>
    /// Keeps a reservation on <paramref name="relayAddress"/> (<c>&lt;addr&gt;/p2p/&lt;relay&gt;</c>) as a static relay of
    /// the AutoRelay worker: pinged for liveness, reserved again after a loss with a backoff from 1 s, printing
    /// <c>reachable</c> / <c>unreachable</c> each time.
    /// </summary>
    public AutoRelayService KeepReservation(Multiaddr relayAddress)
    {
        var options = new AutoRelayOptions { DesiredReservations = 0 };
        options.StaticRelays.Add(relayAddress);
        options.Validate();
        return StartAutoRelay(options, new RelayPoolOptions { RngSeed = Random.Shared.Next() });
    }

    /// <summary>Adds something the runtime disposes first (last in, first out).</summary>
    public T Own<T>(T disposable)
        where T : IAsyncDisposable
    {
        _owned.Add(disposable);
        return disposable;
    }

    /// <summary>
    /// Listens on <c>&lt;relay&gt;/p2p-circuit</c> through the host (it reserves there; the host accepts the circuits and
    /// announces the circuit addresses while the listener lives), and prints <c>reachable</c>.
    /// </summary>
    public async Task<CircuitListener> ListenThroughRelayAsync(Multiaddr relayAddress, CancellationToken cancellationToken)
    {
        if (relayAddress.GetPeerId() is null)
        {
            throw new ArgumentException($"The relay address '{relayAddress}' must end in /p2p/<relay id>.");
        }

        IListenFeature listen = Host;
        ITransportListener listening = Own(await listen.ListenAsync(relayAddress.Encapsulate("/p2p-circuit"), cancellationToken));
        CircuitListener listener = listening as CircuitListener
            ?? throw new InvalidOperationException($"Listening on {relayAddress}/p2p-circuit did not go through the circuit transport.");

        Output.Line($"reachable {listener.ListenAddresses[0].WithPeerId(Id)}");
        listener.Reservation.RenewalFailed += (_, e) => Output.Log($"reservation renewal failed: {e.Error.Message}");
        listener.Reservation.Expired += (_, _) => Output.Line($"unreachable {listener.Relay}");
        return listener;
    }

    public async ValueTask DisposeAsync()
    {
        for (int i = _owned.Count - 1; i >= 0; i--)
        {
            await _owned[i].DisposeAsync();
        }

        _publisher?.Dispose();
        await Client.DisposeAsync();
        await Host.DisposeAsync();
        Meters.Dispose();
        LoggerFactory.Dispose();
    }

    private void PrintCircuits(string what, AutoRelayReservationEventArgs e)
    {
        foreach (Multiaddr circuit in e.CircuitAddresses)
        {
            Output.Line($"{what} {circuit.WithPeerId(Id)}");
        }
    }

    /// <summary>
    /// Loads an Ed25519 key in the libp2p protobuf private-key format, creating it on first use. Without a
    /// path a fresh key is used for this run only.
    /// </summary>
    private static KeyIdentity LoadOrCreateIdentity(string? path) => string.IsNullOrEmpty(path) ? KeyIdentity.Generate() : KeyIdentity.LoadOrCreate(path);
}

/// <summary>The meter factory of a node process.</summary>
internal sealed class NodeMeterFactory : IMeterFactory
{
    private readonly List<Meter> _meters = [];

    public Meter Create(MeterOptions options)
    {
        var meter = new Meter(options);
        lock (_meters)
        {
            _meters.Add(meter);
        }

        return meter;
    }

    public void Dispose()
    {
        lock (_meters)
        {
            _meters.ForEach(m => m.Dispose());
        }
    }
}

/// <summary>Machine-readable events on stdout (one per line), human notes on stderr.</summary>
internal static class Output
{
    private static readonly Lock Gate = new();

    public static void Line(string line)
    {
        lock (Gate)
        {
            Console.Out.WriteLine(line);
            Console.Out.Flush();
        }
    }

    public static void Log(string line)
    {
        lock (Gate)
        {
            Console.Error.WriteLine(line);
        }
    }
}
