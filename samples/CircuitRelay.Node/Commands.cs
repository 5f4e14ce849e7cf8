using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using CircuitRelay.Client;
using CircuitRelay.ReferenceHost;
using CircuitRelay.Server;

namespace CircuitRelay.Node;

internal static class CommandHelpers
{
    public static Option<string[]> ListenOption(string description) => new("--listen")
    {
        Description = description,
        Arity = ArgumentArity.ZeroOrMore,
        AllowMultipleArgumentsPerToken = false,
    };

    /// <summary>
    /// Runs a server until SIGINT or SIGTERM, whatever its stdin is (systemd, nohup, containers). With
    /// <paramref name="exitOnStdinClose"/> (<c>--exit-on-stdin-close</c>, for test harnesses) it also stops when a
    /// redirected stdin reaches its end, so a test runner that dies leaves no orphan.
    /// </summary>
    public static async Task WaitForShutdownAsync(bool exitOnStdinClose, CancellationToken cancellationToken)
    {
        var stopped = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        using var sigterm = System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGTERM, context =>
        {
            context.Cancel = true;
            stopped.TrySetResult("SIGTERM");
        });
        using CancellationTokenRegistration registration = cancellationToken.Register(() => stopped.TrySetResult("SIGINT"));
        if (exitOnStdinClose && Console.IsInputRedirected)
        {
            _ = Task.Run(async () =>
            {
                while (await Console.In.ReadLineAsync() is not null)
                {
                }

                stopped.TrySetResult("stdin-closed");
            });
        }

        string why = await stopped.Task;
        Output.Line($"stopped {why}");
    }

    public static string Describe(Exception ex) => ex switch
    {
        RelayException relay => $"{relay.Status.ToWireName()}: {relay.Message}",
        AggregateException { InnerException: { } inner } => Describe(inner),
        _ => $"{ex.GetType().Name}: {ex.Message}",
    };

    public static string Rate(long bytes, TimeSpan elapsed)
        => (bytes / 1024.0 / 1024.0 / Math.Max(elapsed.TotalSeconds, 1e-9)).ToString("F1", CultureInfo.InvariantCulture);
}

/// <summary>The relay server's knobs, shared by <c>relay</c> and <c>node</c>: the options, and what they build.</summary>
internal sealed class RelayKnobs
{
    private readonly Option<int> _ttl = new("--reservation-ttl") { Description = "Reservation lifetime in seconds.", DefaultValueFactory = _ => 3600 };
    private readonly Option<int> _maxReservations = new("--max-reservations") { Description = "Reservations held at once.", DefaultValueFactory = _ => 128 };
    private readonly Option<int> _perIp = new("--max-reservations-per-ip") { Description = "Reservations per IP address.", DefaultValueFactory = _ => 8 };
    private readonly Option<int> _perAsn = new("--max-reservations-per-asn") { Description = "Reservations per autonomous system (needs an ASN resolver; none in this sample).", DefaultValueFactory = _ => 32 };
    private readonly Option<int> _maxCircuits = new("--max-circuits") { Description = "Circuits relayed at once.", DefaultValueFactory = _ => 1024 };
    private readonly Option<int> _perPeer = new("--max-circuits-per-peer") { Description = "Circuits per peer (as source or target).", DefaultValueFactory = _ => 16 };
    private readonly Option<int> _duration = new("--circuit-duration-limit") { Description = "Maximum circuit lifetime in seconds; 0 = unlimited.", DefaultValueFactory = _ => 120 };
    private readonly Option<long> _data = new("--circuit-data-limit") { Description = "Maximum bytes per direction per circuit; 0 = unlimited.", DefaultValueFactory = _ => 131072 };
    private readonly Option<long> _bandwidth = new("--max-bandwidth-per-peer") { Description = "Bytes per second relayed for one peer across its circuits; 0 = no cap.", DefaultValueFactory = _ => 0 };
    private readonly Option<long> _burst = new("--bandwidth-burst-per-peer") { Description = "Burst of the per-peer bandwidth cap in bytes; 0 = one second's worth.", DefaultValueFactory = _ => 0 };
    private readonly Option<int> _reserveRate = new("--reservation-rate-per-peer") { Description = "Reservation requests per peer per minute; 0 = unlimited.", DefaultValueFactory = _ => 15 };
    private readonly Option<int> _connectRate = new("--connect-rate-per-peer") { Description = "Connect requests per peer per minute; 0 = unlimited.", DefaultValueFactory = _ => 15 };
    private readonly Option<int> _reserveRateIp = new("--reservation-rate-per-ip") { Description = "Reservation requests per IP address per minute; 0 = unlimited.", DefaultValueFactory = _ => 60 };
    private readonly Option<int> _connectRateIp = new("--connect-rate-per-ip") { Description = "Connect requests per IP address per minute; 0 = unlimited.", DefaultValueFactory = _ => 60 };
    private readonly Option<int> _streamWindow = new("--max-stream-window")
    {
        Description = "Largest Yamux receive window of a stream in bytes (at least 262144): the most a circuit whose receiver stalls makes the relay hold per direction.",
        DefaultValueFactory = _ => 1024 * 1024,
    };

    private readonly Option<int> _maxInbound = new("--max-inbound-connections")
    {
        Description = "Inbound TCP connections open or upgrading at once; one more is reset when accepted.",
        DefaultValueFactory = _ => 1024,
    };

    private readonly Option<int> _maxPerIp = new("--max-connections-per-ip") { Description = "Inbound connections open or upgrading from one IP address; 0 = no cap.", DefaultValueFactory = _ => 32 };
    private readonly Option<int> _maxPerSubnet = new("--max-connections-per-subnet") { Description = "Inbound connections from one IPv4 /24 or IPv6 /56; 0 = no cap.", DefaultValueFactory = _ => 128 };
    private readonly Option<int> _idleTimeout = new("--idle-timeout")
    {
        Description = "Seconds an inbound connection may carry no stream before it is closed (reservation holders are kept); 0 = never.",
        DefaultValueFactory = _ => 120,
    };

    private readonly Option<double> _loadCircuitsTight = new("--load-circuits-tight") { Description = "Fraction of --max-circuits from which new circuits get tighter limits and new reservations a shorter TTL.", DefaultValueFactory = _ => 0.75 };
    private readonly Option<double> _loadCircuitsRefuse = new("--load-circuits-refuse") { Description = "Fraction of --max-circuits from which new reservations and circuits are refused (RESOURCE_LIMIT_EXCEEDED).", DefaultValueFactory = _ => 0.95 };
    private readonly Option<double> _loadBandwidthTight = new("--load-bandwidth-tight") { Description = "Bytes relayed per second from which limits tighten; 0 = not watched.", DefaultValueFactory = _ => 0 };
    private readonly Option<double> _loadBandwidthRefuse = new("--load-bandwidth-refuse") { Description = "Bytes relayed per second from which new requests are refused; 0 = not watched.", DefaultValueFactory = _ => 0 };
    private readonly Option<long> _loadMemoryTight = new("--load-memory-tight") { Description = "Managed heap bytes from which limits tighten; 0 = not watched.", DefaultValueFactory = _ => 0 };
    private readonly Option<long> _loadMemoryRefuse = new("--load-memory-refuse") { Description = "Managed heap bytes from which new requests are refused; 0 = not watched.", DefaultValueFactory = _ => 0 };
    private readonly Option<double> _loadTightFactor = new("--load-tight-factor") { Description = "Under load, new circuits' limits and new reservations' TTL are multiplied by this (0 to 1].", DefaultValueFactory = _ => 0.5 };

    /// <summary>Adds every knob to <paramref name="command"/>.</summary>
    public void AddTo(Command command)
    {
        foreach (Option option in new Option[]
        {
            _ttl, _maxReservations, _perIp, _perAsn, _maxCircuits, _perPeer, _duration, _data, _bandwidth, _burst,
            _reserveRate, _connectRate, _reserveRateIp, _connectRateIp, _streamWindow, _maxInbound, _maxPerIp, _maxPerSubnet, _idleTimeout,
            _loadCircuitsTight, _loadCircuitsRefuse, _loadBandwidthTight, _loadBandwidthRefuse, _loadMemoryTight, _loadMemoryRefuse, _loadTightFactor,
        })
        {
            command.Add(option);
        }
    }

    /// <summary>The relay server's options, validated (an <see cref="ArgumentException"/> names what is wrong).</summary>
    public RelayServerOptions BuildServerOptions(ParseResult parse)
    {
        var options = new RelayServerOptions
        {
            ReservationTtl = TimeSpan.FromSeconds(parse.GetValue(_ttl)),
            MaxReservations = parse.GetValue(_maxReservations),
            MaxReservationsPerIp = parse.GetValue(_perIp),
            MaxReservationsPerAsn = parse.GetValue(_perAsn),
            MaxCircuits = parse.GetValue(_maxCircuits),
            MaxCircuitsPerPeer = parse.GetValue(_perPeer),
            CircuitDurationLimit = TimeSpan.FromSeconds(parse.GetValue(_duration)),
            CircuitDataLimit = parse.GetValue(_data),
            MaxBandwidthPerPeer = parse.GetValue(_bandwidth),
            BandwidthBurstPerPeer = parse.GetValue(_burst),
            ReservationRateLimitPerPeer = new RateLimitOptions { Permits = parse.GetValue(_reserveRate), Period = TimeSpan.FromMinutes(1) },
            ConnectRateLimitPerPeer = new RateLimitOptions { Permits = parse.GetValue(_connectRate), Period = TimeSpan.FromMinutes(1) },
            ReservationRateLimitPerIp = new RateLimitOptions { Permits = parse.GetValue(_reserveRateIp), Period = TimeSpan.FromMinutes(1) },
            ConnectRateLimitPerIp = new RateLimitOptions { Permits = parse.GetValue(_connectRateIp), Period = TimeSpan.FromMinutes(1) },
            LoadTightFactor = parse.GetValue(_loadTightFactor),
            LoadPolicy = new WatermarkLoadPolicy
            {
                CircuitsTight = parse.GetValue(_loadCircuitsTight),
                CircuitsRefuse = parse.GetValue(_loadCircuitsRefuse),
                BytesPerSecondTight = parse.GetValue(_loadBandwidthTight),
                BytesPerSecondRefuse = parse.GetValue(_loadBandwidthRefuse),
                MemoryTight = parse.GetValue(_loadMemoryTight),
                MemoryRefuse = parse.GetValue(_loadMemoryRefuse),
            },
        };
        if (parse.GetValue(_loadCircuitsTight) is < 0 or > 1 || parse.GetValue(_loadCircuitsRefuse) is < 0 or > 1)
        {
            throw new ArgumentException("--load-circuits-tight and --load-circuits-refuse are fractions of --max-circuits, from 0 (not watched) to 1.");
        }

        options.Validate();
        return options;
    }

    /// <summary>The host settings the knobs carry (stream window, inbound cap), validated.</summary>
    public Action<Libp2pHostOptions> BuildHostOptions(ParseResult parse)
    {
        int window = parse.GetValue(_streamWindow);
        int maxInbound = parse.GetValue(_maxInbound);
        if (window < 256 * 1024)
        {
            throw new ArgumentException("--max-stream-window must be at least 262144 bytes (256 KiB, the Yamux default).");
        }

        if (maxInbound < 1)
        {
            throw new ArgumentException("--max-inbound-connections must be at least 1.");
        }

        int perIp = parse.GetValue(_maxPerIp), perSubnet = parse.GetValue(_maxPerSubnet), idle = parse.GetValue(_idleTimeout);
        if (perIp < 0 || perSubnet < 0 || idle < 0)
        {
            throw new ArgumentException("--max-connections-per-ip, --max-connections-per-subnet and --idle-timeout must be 0 or more.");
        }

        return host =>
        {
            host.MaxStreamReceiveWindow = window;
            host.StreamReceiveWindow = Math.Min(host.StreamReceiveWindow, window);
            host.MaxInboundConnections = maxInbound;
            host.MaxInboundConnectionsPerIp = perIp;
            host.MaxInboundConnectionsPerSubnet = perSubnet;
            host.InboundIdleTimeout = idle == 0 ? null : TimeSpan.FromSeconds(idle);
        };
    }
}

internal static class RelayCommand
{
    public static Command Create(Option<string?> identity, Option<bool> verbose, Option<bool> exitOnStdinClose)
    {
        var listen = CommandHelpers.ListenOption("Address to listen on (repeatable), e.g. /ip4/0.0.0.0/tcp/4001.");
        listen.DefaultValueFactory = _ => ["/ip4/127.0.0.1/tcp/0"];
        var via = new Option<string?>("--relay") { Description = "Also reserve on this relay (<addr>/p2p/<id>) to be reachable through it." };
        var knobs = new RelayKnobs();
        var command = new Command("relay", "Run a Circuit Relay v2 relay.") { listen, via };
        knobs.AddTo(command);
        command.SetAction(async (parse, cancellationToken) =>
        {
            try
            {
                RelayServerOptions options = knobs.BuildServerOptions(parse);
                Action<Libp2pHostOptions> hostOptions = knobs.BuildHostOptions(parse);
                await using NodeRuntime node = await NodeRuntime.StartAsync(parse.GetValue(identity), parse.GetValue(listen) ?? [], parse.GetValue(verbose), cancellationToken, hostOptions);
                RelayServer relay = node.Own(new RelayServer(node.Host, options, node.LoggerFactory, node.Meters, TimeProvider.System));
                relay.Start();
                foreach (Multiaddr address in node.Host.ListenAddresses)
                {
                    Output.Line($"listening {address.WithPeerId(node.Id)}");
                }

                RelayLimit? limit = options.GetCircuitLimit();
                Output.Line(limit is null ? "limit none" : $"limit duration={limit.Duration.TotalSeconds}s data={limit.DataBytes}");
                if (parse.GetValue(via) is { } other)
                {
                    node.KeepReservation(Multiaddr.Parse(other));
                }

                relay.CircuitClosed += (_, e) => Output.Log($"circuit {e.Source} -> {e.Target} closed: {e.Reason}, {e.BytesToTarget} B / {e.BytesToSource} B");
                Output.Line("ready");
                await CommandHelpers.WaitForShutdownAsync(parse.GetValue(exitOnStdinClose), cancellationToken);
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
}

internal static class ListenCommand
{
    public static Command Create(Option<string?> identity, Option<bool> verbose, Option<bool> exitOnStdinClose)
    {
        var relayAddress = new Option<string?>("--relay") { Description = "Relay to reserve on: <addr>/p2p/<relay id>." };
        var listen = CommandHelpers.ListenOption("Also listen directly on this address (repeatable).");
        var command = new Command("listen", "Keep a reservation on a relay (renewed, pinged, reserved again after a loss) and serve /echo/1.0.0 and ping.") { relayAddress, listen };
        command.SetAction(async (parse, cancellationToken) =>
        {
            try
            {
                await using NodeRuntime node = await NodeRuntime.StartAsync(parse.GetValue(identity), parse.GetValue(listen) ?? [], parse.GetValue(verbose), cancellationToken);
                foreach (Multiaddr address in node.Host.ListenAddresses)
                {
                    Output.Line($"listening {address.WithPeerId(node.Id)}");
                }

                if (parse.GetValue(relayAddress) is { } relay)
                {
                    node.KeepReservation(Multiaddr.Parse(relay));
                }

                Output.Line("ready");
                await CommandHelpers.WaitForShutdownAsync(parse.GetValue(exitOnStdinClose), cancellationToken);
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
}

/// <summary>
/// The shape every one-shot client command shares: start a node without listening, connect to the peer the
/// address names, run the action, print one event line; any failure becomes <c>error &lt;reason&gt;</c> and exit 1.
/// </summary>
internal static class ClientCommand
{
    public static Command Create(string name, string description, Option<string?> identity, Option<bool> verbose, Option<int>? timeoutOption, Func<ParseResult, NodeRuntime, Multiaddr, PeerId, CancellationToken, Task> action, params Option[] options)
    {
        var address = new Argument<string>("address") { Description = "Peer address ending in /p2p/<id> (direct, or <relay addr>/p2p/<relay>/p2p-circuit/p2p/<id>)." };
        var command = new Command(name, description) { address };
        foreach (Option option in options)
        {
            command.Add(option);
        }

        if (timeoutOption is not null)
        {
            command.Add(timeoutOption);
        }

        command.SetAction(async (parse, cancellationToken) =>
        {
            using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            deadline.CancelAfter(TimeSpan.FromSeconds(timeoutOption is null ? 60 : parse.GetValue(timeoutOption)));
            try
            {
                await using NodeRuntime node = await NodeRuntime.StartAsync(parse.GetValue(identity), [], parse.GetValue(verbose), deadline.Token);
                Multiaddr target = Multiaddr.Parse(parse.GetValue(address)!);
                PeerId peer = target.GetPeerId() ?? throw new ArgumentException("The address must end in /p2p/<id>.");
                await node.Host.DialAsync(target, cancellationToken: deadline.Token);
                await action(parse, node, target, peer, deadline.Token);
                return 0;
            }
            catch (Exception ex)
            {
                Output.Line($"error {(ex is OperationCanceledException ? "timed out" : CommandHelpers.Describe(ex))}");
                return 1;
            }
        });
        return command;
    }
}

internal static class DialCommand
{
    public static Command Create(Option<string?> identity, Option<bool> verbose)
    {
        var bytes = new Option<long>("--bytes") { Description = "Random bytes to send and check.", DefaultValueFactory = _ => 1024 };
        var warmup = new Option<long>("--warmup") { Description = "Echo this many bytes first, untimed, on a stream of their own (for benchmarks).", DefaultValueFactory = _ => 0 };
        var timeout = new Option<int>("--timeout") { Description = "Overall timeout in seconds.", DefaultValueFactory = _ => 60 };
        return ClientCommand.Create(
            "dial",
            "Connect (directly or through a relay), echo N random bytes over /echo/1.0.0 and check them.",
            identity,
            verbose,
            timeout,
            async (parse, node, _, peer, cancellationToken) =>
            {
                long size = parse.GetValue(bytes);
                if (parse.GetValue(warmup) is > 0 and long warm)
                {
                    await EchoProtocol.RunAsync(node.Host, peer, warm, cancellationToken);
                }

                TimeSpan elapsed = await EchoProtocol.RunAsync(node.Host, peer, size, cancellationToken);
                Output.Line($"echo ok {size} bytes in {(long)elapsed.TotalMilliseconds} ms ({CommandHelpers.Rate(size, elapsed)} MiB/s)");
            },
            bytes,
            warmup);
    }
}

internal static class PingCommand
{
    public static Command Create(Option<string?> identity, Option<bool> verbose)
    {
        var count = new Option<int>("--count") { Description = "Pings to send.", DefaultValueFactory = _ => 1 };
        return ClientCommand.Create(
            "ping",
            "Ping a peer over /ipfs/ping/1.0.0.",
            identity,
            verbose,
            timeoutOption: null,
            async (parse, node, _, peer, cancellationToken) =>
            {
                for (int i = 0; i < Math.Max(1, parse.GetValue(count)); i++)
                {
                    TimeSpan rtt = await node.Host.PingAsync(peer, cancellationToken);
                    Output.Line($"ping ok {rtt.TotalMilliseconds.ToString("F0", CultureInfo.InvariantCulture)}");
                }
            },
            count);
    }
}

internal static class ReserveCommand
{
    public static Command Create(Option<string?> identity, Option<bool> verbose)
        => ClientCommand.Create(
            "reserve",
            "Send one hop RESERVE to a relay (reached directly or through another relay) and print what it grants.",
            identity,
            verbose,
            timeoutOption: null,
            async (_, node, _, relay, cancellationToken) =>
            {
                RelayReservation reservation = await node.Client.ReserveAsync(relay, [], cancellationToken);
                RelayLimit? limit = reservation.Limit;
                Output.Line($"reserved {reservation.Expiry.ToUnixTimeSeconds()} limit {(long)(limit?.Duration.TotalSeconds ?? 0)} {limit?.DataBytes ?? 0}");
                foreach (Multiaddr circuit in reservation.CircuitAddresses)
                {
                    Output.Line($"address {circuit.WithPeerId(node.Id)}");
                }

                await reservation.DisposeAsync();
            });
}
