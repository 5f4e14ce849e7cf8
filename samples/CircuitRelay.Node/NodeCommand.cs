using System.CommandLine;
using OpenTelemetry.Metrics;
using System.Globalization;
using CircuitRelay.Adverts;
using CircuitRelay.AutoNat;
using CircuitRelay.Inbound;
using CircuitRelay.AutoRelay;
using CircuitRelay.Diagnostics;
using CircuitRelay.Server;

namespace CircuitRelay.Node;

/// <summary>
/// <c>node</c>: the one real daemon. It serves as a relay when asked (<c>--relay-service on</c>: it relays and advertises
/// itself in the advert gossip), and it makes itself reachable through relays it chooses (the AutoRelay worker over an
/// address book fed by the candidate list, gossip and Identify) when it is a private node or was given candidates.
/// Serves <c>/echo/1.0.0</c> and ping. Runs until SIGINT or SIGTERM, whatever its stdin is.
/// </summary>
/// <remarks>
/// Event lines on stdout: <c>peer &lt;id&gt;</c>, <c>listening &lt;ma&gt;</c>, <c>relay-service on</c>, <c>admin &lt;url&gt;</c> (with
/// <c>--admin-listen</c>), <c>ready</c>,
/// then <c>reachable &lt;circuit addr&gt;</c> when a reservation becomes live and <c>unreachable &lt;circuit addr&gt;</c>
/// when one is lost or rotated away. Bad configuration: one <c>error …</c> line, exit code 2.
/// </remarks>
internal static class NodeCommand
{
    private const int ExitBadConfiguration = 2;

    public static Command Create(Option<string?> identity, Option<bool> verbose, Option<bool> exitOnStdinClose)
    {
        var listen = CommandHelpers.ListenOption("Address to listen on directly (repeatable); none = a private node that is reachable only through relays.");
        var relayService = new Option<string>("--relay-service") { Description = "Serve as a relay and advertise it: on, off, or auto (while the role is public).", DefaultValueFactory = _ => "auto" };
        relayService.AcceptOnlyFromAmong("on", "off", "auto");
        var role = new Option<string>("--role") { Description = "auto (AutoNAT decides), public (serve as a relay) or private (reserve through relays).", DefaultValueFactory = _ => "auto" };
        role.AcceptOnlyFromAmong("auto", "public", "private");
        var autonat = new Option<string>("--autonat") { Description = "AutoNAT v1 and v2 clients and servers: on or off.", DefaultValueFactory = _ => "on" };
        autonat.AcceptOnlyFromAmong("on", "off");
        var autonatAllowPrivate = new Option<bool>("--autonat-allow-private") { Description = "The AutoNAT servers dial private and loopback addresses, and the v2 client asks about them (labs, LANs)." };
        var autonatConfidence = new Option<int>("--autonat-confidence") { Description = "Agreeing AutoNAT results from distinct /24 (or /48) networks needed to change the role.", DefaultValueFactory = _ => 3 };
        var autonatBootDelay = new Option<double>("--autonat-boot-delay") { Description = "Seconds before the first AutoNAT probe.", DefaultValueFactory = _ => 15 };
        var external = new Option<string[]>("--external-address") { Description = "An address others reach this node at (repeatable): announced in Identify and, when relaying, in the advert.", Arity = ArgumentArity.ZeroOrMore };
        var capPerRelay = new Option<int>("--inbound-cap-per-relay") { Description = "Relayed connections through one relay at once; 0 = no cap.", DefaultValueFactory = _ => 16 };
        var capUnknownRelay = new Option<int>("--inbound-cap-unknown-relay") { Description = "Relayed connections at once through relays we hold no reservation with; 0 = refuse them all (NO_RESERVATION).", DefaultValueFactory = _ => 0 };
        var capPrivate = new Option<int>("--inbound-cap-private") { Description = "Inbound direct connections while the role is private; 0 = no cap.", DefaultValueFactory = _ => 0 };
        var autonatRetry = new Option<double>("--autonat-retry") { Description = "Seconds between AutoNAT probes while the role is not settled.", DefaultValueFactory = _ => 90 };
        var capacity = new Option<int?>("--advertise-capacity") { Description = "Reservations the relay advert says it accepts. Default: --max-reservations." };
        var advertTtl = new Option<int>("--advertise-ttl") { Description = "Seconds each relay advert is valid (1 to 86400); it is sealed anew at half of it.", DefaultValueFactory = _ => 1800 };
        var advertise = new Option<string[]>("--advertise-address") { Description = "Address the relay advert carries (repeatable). Default: the listen addresses.", Arity = ArgumentArity.ZeroOrMore };
        var reservations = new Option<string[]>("--reservation") { Description = "Static relay (<addr>/p2p/<id>, repeatable): always reserved on, apart from the automatic ones.", Arity = ArgumentArity.ZeroOrMore };
        var candidates = new Option<string[]>("--relay-candidate")
        {
            Description = "Relay candidate (repeatable), with or without /p2p/<id>: trusted; one without an id is probed first (dialed, its id and protocols learned).",
            Arity = ArgumentArity.ZeroOrMore,
        };
        var minSources = new Option<int>("--relay-min-sources") { Description = "Distinct sources (gossip peers, Identify, …) a relay found by itself needs before it is used.", DefaultValueFactory = _ => 2 };
        var maxRelays = new Option<int>("--max-relays") { Description = "Automatic reservations kept live (0: only the --reservation relays).", DefaultValueFactory = _ => 2 };
        var maxPeersPerRelay = new Option<int>("--max-peers-per-relay") { Description = "Skip relays whose advert says they hold this many reservations or more; 0 = no cap.", DefaultValueFactory = _ => 0 };
        var rngSeed = new Option<int?>("--rng-seed") { Description = "Seed of every random choice (backoff jitter, ties). Default: random per run." };
        var allowPrivate = new Option<bool>("--relay-allow-private") { Description = "Use relays found by gossip or Identify at private or loopback addresses (labs, LANs); candidates are always used where given." };
        var livenessInterval = new Option<double>("--relay-liveness-interval") { Description = "Seconds between pings to each relay holding a reservation (a frozen relay is noticed within this plus the timeout).", DefaultValueFactory = _ => 5 };
        var livenessTimeout = new Option<double>("--relay-liveness-timeout") { Description = "Seconds a relay's ping may take before its reservation is dropped.", DefaultValueFactory = _ => 5 };
        var reserveTimeout = new Option<double>("--reserve-timeout") { Description = "Seconds one reservation attempt or probe may take.", DefaultValueFactory = _ => 10 };
        var cycle = new Option<double>("--autorelay-interval") { Description = "Seconds between AutoRelay cycles when nothing happens (a lost reservation is replaced at once).", DefaultValueFactory = _ => 30 };
        var adminListen = new Option<string?>("--admin-listen") { Description = "Serve the node's JSON snapshot (relay, AutoRelay, AutoNAT) over HTTP at <ip>:<port> (GET /metrics; port 0 picks one; loopback only unless --admin-allow-remote). Off by default." };
        var adminAllowRemote = new Option<bool>("--admin-allow-remote") { Description = "Let --admin-listen bind a non-loopback address (the endpoint has no authentication)." };
        var knobs = new RelayKnobs();
        var prometheusListen = new Option<string?>("--prometheus-listen") { Description = "Serve the metrics in the Prometheus text format at http://<ip:port>/metrics (OpenTelemetry's exporter); loopback unless --admin-allow-remote; port 0 picks a free one." };
        var config = new Option<string?>(NodeConfigFile.ConfigFlag) { Description = "A JSON configuration file in the shape CircuitRelay.Hosting binds ({ \"CircuitRelay\": { \"Host\": …, \"Node\": …, \"RelayServer\": … } }); options given here win over it." };
        var printConfig = new Option<bool>("--print-config") { Description = "Print the effective configuration (file, options and defaults) as JSON and exit." };
        var command = new Command("node", "Run a libp2p node: a relay (--relay-service on), a private node that finds relays by itself (--relay-candidate), or both.")
        {
            listen, relayService, capacity, advertTtl, advertise, reservations, candidates, minSources, maxRelays, maxPeersPerRelay, rngSeed,
            allowPrivate, livenessInterval, livenessTimeout, reserveTimeout, cycle,
            role, autonat, autonatAllowPrivate, autonatConfidence, autonatBootDelay, autonatRetry, capPerRelay, capPrivate, capUnknownRelay, external,
            adminListen, adminAllowRemote, prometheusListen, config, printConfig,
        };
        knobs.AddTo(command);
        command.SetAction(async (parse, cancellationToken) =>
        {
            NodeSettings settings;
            try
            {
                if (parse.GetValue(capPerRelay) < 0 || parse.GetValue(capPrivate) < 0)
                {
                    throw new ArgumentException("--inbound-cap-per-relay and --inbound-cap-private must be 0 (no cap) or more.");
                }

                if (parse.GetValue(capUnknownRelay) < 0)
                {
                    throw new ArgumentException($"--inbound-cap-unknown-relay is {parse.GetValue(capUnknownRelay)}; it must be 0 (refuse) or more.");
                }

                int confidence = parse.GetValue(autonatConfidence);
                if (confidence < 1)
                {
                    throw new ArgumentException($"--autonat-confidence is {confidence}; it must be at least 1.");
                }

                settings = new NodeSettings
                {
                    Listen = parse.GetValue(listen) ?? [],
                    RelayService = parse.GetValue(relayService)!,
                    Role = parse.GetValue(role) switch { "public" => NodeRole.Public, "private" => NodeRole.Private, _ => NodeRole.Unknown },
                    AutoNat = parse.GetValue(autonat) == "on",
                    AutoNatServer = new AutoNatServerOptions { AllowPrivate = parse.GetValue(autonatAllowPrivate), RngSeed = parse.GetValue(rngSeed) ?? Random.Shared.Next() },
                    AutoNatV2Server = new AutoNatV2ServerOptions { AllowPrivate = parse.GetValue(autonatAllowPrivate), RngSeed = parse.GetValue(rngSeed) ?? Random.Shared.Next() },
                    UnknownRelayCap = parse.GetValue(capUnknownRelay),
                    AutoNatService = new AutoNatServiceOptions
                    {
                        Confidence = confidence,
                        BootDelay = TimeSpan.FromSeconds(Math.Max(0, parse.GetValue(autonatBootDelay))),
                        RetryInterval = Seconds(parse.GetValue(autonatRetry), "--autonat-retry"),
                        IncludePrivateAddresses = parse.GetValue(autonatAllowPrivate),
                        RngSeed = parse.GetValue(rngSeed) ?? Random.Shared.Next(),
                    },
                    ExternalAddresses = [.. (parse.GetValue(external) ?? []).Select(a => ParseAddress(a, "--external-address"))],
                    InboundCaps = new InboundCapsOptions { PerRelay = parse.GetValue(capPerRelay), WhilePrivate = parse.GetValue(capPrivate) },
                    Server = knobs.BuildServerOptions(parse),
                    Host = knobs.BuildHostOptions(parse),
                    Advert = BuildAdvert(parse.GetValue(capacity), parse.GetValue(advertTtl), parse.GetValue(advertise) ?? []),
                    AutoRelay = BuildAutoRelay(
                        parse.GetValue(maxRelays),
                        parse.GetValue(reservations) ?? [],
                        parse.GetValue(candidates) ?? [],
                        Seconds(parse.GetValue(livenessInterval), "--relay-liveness-interval"),
                        Seconds(parse.GetValue(livenessTimeout), "--relay-liveness-timeout"),
                        Seconds(parse.GetValue(reserveTimeout), "--reserve-timeout"),
                        Seconds(parse.GetValue(cycle), "--autorelay-interval")),
                    Pool = BuildPool(parse.GetValue(minSources), parse.GetValue(maxPeersPerRelay), parse.GetValue(rngSeed), parse.GetValue(allowPrivate)),
                    Admin = parse.GetValue(adminListen) is { } admin ? AdminEndpoint.ParseListen(admin, parse.GetValue(adminAllowRemote)) : null,
                    Prometheus = parse.GetValue(prometheusListen) is { } prometheus ? AdminEndpoint.ParseListen(prometheus, parse.GetValue(adminAllowRemote), "--prometheus-listen") : null,
                };
            }
            catch (Exception ex) when (ex is ArgumentException or FormatException)
            {
                Output.Line($"error invalid configuration: {ex.Message}");
                return ExitBadConfiguration;
            }

            if (parse.GetValue(printConfig))
            {
                Console.Out.WriteLine(NodeConfigFile.Print(parse));
                return 0;
            }

            try
            {
                await RunAsync(parse.GetValue(identity), parse.GetValue(verbose), parse.GetValue(exitOnStdinClose), settings, cancellationToken);
                return 0;
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                Output.Line($"error {CommandHelpers.Describe(ex)}");
                return 1;
            }
        });
        return command;
    }

    private static async Task RunAsync(string? identityPath, bool verbose, bool exitOnStdinClose, NodeSettings settings, CancellationToken cancellationToken)
    {
        await using NodeRuntime node = await NodeRuntime.StartAsync(identityPath, settings.Listen, verbose, cancellationToken, settings.Host, new CircuitRelay.Client.RelayClientOptions { UnknownRelayCap = settings.UnknownRelayCap });
        foreach (Multiaddr address in node.Host.ListenAddresses)
        {
            Output.Line($"listening {address.WithPeerId(node.Id)}");
        }

        foreach (Multiaddr address in settings.ExternalAddresses)
        {
            node.Host.AddExternalAddress(address);
        }

        node.StartGossip();
        AutoNatService? autonat = null;
        AutoNatServer? autonatServer = null;
        AutoNatV2Server? autonatV2Server = null;
        if (settings.AutoNat)
        {
            autonatServer = node.Own(new AutoNatServer(node.Host, settings.AutoNatServer, node.LoggerFactory, node.Meters, TimeProvider.System));
            autonatServer.Start();
            autonatV2Server = node.Own(new AutoNatV2Server(node.Host, settings.AutoNatV2Server, node.LoggerFactory, node.Meters, TimeProvider.System));
            autonatV2Server.Start();
            settings.AutoNatService.ForcedRole = settings.Role;
            autonat = node.Own(new AutoNatService(node.Host, settings.AutoNatService, node.LoggerFactory, node.Meters, TimeProvider.System));
        }

        using var caps = new InboundCapsGate(node.Host, settings.InboundCaps, () => autonat?.Role ?? settings.Role, node.LoggerFactory, node.Meters);
        bool keepsReservations = settings.AutoRelay.StaticRelays.Count > 0;

        // public: serve as a relay (with --relay-service auto) and release the automatic reservations unless static
        // relays were given; private or unknown: reserve through relays, refuse new reservations (running circuits go on).
        RelayServiceMode mode = settings.RelayService switch { "on" => RelayServiceMode.On, "off" => RelayServiceMode.Off, _ => RelayServiceMode.Auto };
        AutoRelayService? worker = mode == RelayServiceMode.On && !keepsReservations ? null : node.StartAutoRelay(settings.AutoRelay, settings.Pool, start: false);
        await using var coordinator = new RoleCoordinator(
            new RoleCoordinatorOptions { RelayService = mode, ReserveWhilePublic = keepsReservations },
            node.LoggerFactory,
            mode == RelayServiceMode.Off ? null : () => node.CreateRelay(settings.Server),
            relay => node.CreateAdvertPublisher(relay, settings.Advert, settings.Server.MaxReservations),
            worker);
        node.AdvertSource = () => coordinator.AdvertPublisher;
        bool serving = false;
        coordinator.RoleApplied += (_, e) =>
        {
            Output.Line($"role {e.Role.ToString().ToLowerInvariant()}");
            if (e.ServingAsRelay != serving)
            {
                serving = e.ServingAsRelay;
                Output.Line(serving ? "relay-service on" : "relay-service off");
            }
        };

        if (autonat is not null)
        {
            await coordinator.Attach(autonat, cancellationToken);
            autonat.Start();
        }
        else
        {
            await coordinator.ApplyAsync(settings.Role, cancellationToken);
        }

        // Declared after the coordinator and the runtime it reads from, so it is disposed before them.
        await using AdminEndpoint? admin = settings.Admin is { } adminAt
            ? AdminEndpoint.Start(adminAt, () => NodeSnapshot.Create(TimeProvider.System, coordinator.Relay, worker, autonat, autonatServer, autonatV2Server).ToJson())
            : null;
        if (admin is not null)
        {
            Output.Line($"admin {admin.Address}");
        }

        using OpenTelemetry.Metrics.MeterProvider? prometheus = settings.Prometheus is { } scrapeAt ? StartPrometheus(scrapeAt) : null;

        Output.Line("ready");
        await CommandHelpers.WaitForShutdownAsync(exitOnStdinClose, cancellationToken);
    }

    /// <summary>OpenTelemetry's Prometheus exporter over the meter <c>CircuitRelay</c>; prints <c>prometheus &lt;url&gt;</c>.</summary>
    private static OpenTelemetry.Metrics.MeterProvider StartPrometheus(System.Net.IPEndPoint at)
    {
        if (at.Port == 0)
        {
            // HttpListener takes no port 0: borrow a free one from the system.
            using var probe = new System.Net.Sockets.TcpListener(at.Address, 0);
            probe.Start();
            at = new System.Net.IPEndPoint(at.Address, ((System.Net.IPEndPoint)probe.LocalEndpoint).Port);
            probe.Stop();
        }

        string host = at.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? $"[{at.Address}]" : at.Address.ToString();
        string prefix = $"http://{host}:{at.Port}/";
        OpenTelemetry.Metrics.MeterProvider provider = OpenTelemetry.Sdk.CreateMeterProviderBuilder()
            .AddMeter("CircuitRelay") // every instrument of the library is on this meter (docs/metrics.md)
            .AddPrometheusHttpListener(o =>
            {
                o.Host = host;
                o.Port = at.Port;
                o.ScrapeEndpointPath = "/metrics";
            })
            .Build();
        Output.Line($"prometheus {prefix}metrics");
        return provider;
    }

    private static RelayAdvertOptions BuildAdvert(int? capacity, int ttlSeconds, string[] addresses)
    {
        if (capacity is < 0)
        {
            throw new ArgumentException($"--advertise-capacity is {capacity}; it must be 0 or more.");
        }

        if (ttlSeconds is < 1 or > 86_400)
        {
            throw new ArgumentException($"--advertise-ttl is {ttlSeconds}; it must be 1 to 86400 seconds.");
        }

        var options = new RelayAdvertOptions { Capacity = (uint)(capacity ?? 0), Ttl = TimeSpan.FromSeconds(ttlSeconds) };
        foreach (string address in addresses)
        {
            options.Addresses.Add(ParseAddress(address, "--advertise-address"));
        }

        options.Validate();
        return options;
    }

    private static AutoRelayOptions BuildAutoRelay(int maxRelays, string[] reservations, string[] candidates, TimeSpan liveness, TimeSpan livenessTimeout, TimeSpan reserveTimeout, TimeSpan cycle)
    {
        if (maxRelays < 0)
        {
            throw new ArgumentException($"--max-relays is {maxRelays}; it must be 0 (only the --reservation relays) or more.");
        }

        var options = new AutoRelayOptions
        {
            DesiredReservations = maxRelays,
            LivenessInterval = liveness,
            LivenessTimeout = livenessTimeout,
            ReserveTimeout = reserveTimeout,
            CycleInterval = cycle,
        };
        foreach (string reservation in reservations)
        {
            Multiaddr address = ParseAddress(reservation, "--reservation");
            if (address.GetPeerId() is null || address.IsRelayed)
            {
                throw new ArgumentException($"--reservation '{reservation}' must be a direct address ending in /p2p/<relay id>.");
            }

            options.StaticRelays.Add(address);
        }

        foreach (string candidate in candidates)
        {
            Multiaddr address = ParseAddress(candidate, "--relay-candidate");
            if (address.IsRelayed)
            {
                throw new ArgumentException($"--relay-candidate '{candidate}' must be a direct address, not a circuit address.");
            }

            options.Candidates.Add(address);
        }

        options.Validate();
        return options;
    }

    private static RelayPoolOptions BuildPool(int minSources, int maxPeersPerRelay, int? seed, bool allowPrivate)
    {
        if (minSources < 1)
        {
            throw new ArgumentException($"--relay-min-sources is {minSources}; it must be at least 1.");
        }

        if (maxPeersPerRelay < 0)
        {
            throw new ArgumentException($"--max-peers-per-relay is {maxPeersPerRelay}; it must be 0 (no cap) or more.");
        }

        var options = new RelayPoolOptions
        {
            MinSources = minSources,
            MaxPeersPerRelay = maxPeersPerRelay,
            RngSeed = seed ?? Random.Shared.Next(),
            AllowPrivateAddresses = allowPrivate,
        };
        options.Validate();
        return options;
    }

    private static Multiaddr ParseAddress(string text, string option)
    {
        try
        {
            return Multiaddr.Parse(text);
        }
        catch (FormatException ex)
        {
            throw new ArgumentException($"{option} '{text}' is not a multiaddr: {ex.Message}", ex);
        }
    }

    private static TimeSpan Seconds(double value, string option)
        => value > 0 && double.IsFinite(value)
            ? TimeSpan.FromSeconds(value)
            : throw new ArgumentException($"{option} is {value.ToString(CultureInfo.InvariantCulture)}; it must be a positive number of seconds.");

    /// <summary>The validated configuration of one <c>node</c> run.</summary>
    private sealed class NodeSettings
    {
        public required IReadOnlyList<string> Listen { get; init; }

        /// <summary>on, off or auto.</summary>
        public required string RelayService { get; init; }

        public required NodeRole Role { get; init; }

        public required bool AutoNat { get; init; }

        public required AutoNatServerOptions AutoNatServer { get; init; }

        public required AutoNatV2ServerOptions AutoNatV2Server { get; init; }

        public required int UnknownRelayCap { get; init; }

        public required AutoNatServiceOptions AutoNatService { get; init; }

        public required InboundCapsOptions InboundCaps { get; init; }

        public required IReadOnlyList<Multiaddr> ExternalAddresses { get; init; }

        public required RelayServerOptions Server { get; init; }

        public required Action<ReferenceHost.Libp2pHostOptions> Host { get; init; }

        public required RelayAdvertOptions Advert { get; init; }

        public required AutoRelayOptions AutoRelay { get; init; }

        public required RelayPoolOptions Pool { get; init; }

        /// <summary>Where the admin endpoint listens (<c>--admin-listen</c>); null: none.</summary>
        public required System.Net.IPEndPoint? Admin { get; init; }

        /// <summary>Where the Prometheus scrape endpoint listens (<c>--prometheus-listen</c>); null: none.</summary>
        public required System.Net.IPEndPoint? Prometheus { get; init; }
    }
}
