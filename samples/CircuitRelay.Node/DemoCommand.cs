using System.CommandLine;
using CircuitRelay.Server;
using CircuitRelay.Transport;

namespace CircuitRelay.Node;

/// <summary>Relay, private listener and dialer in one process over loopback TCP, narrated.</summary>
internal static class DemoCommand
{
    public static Command Create(Option<bool> verbose)
    {
        var limit = new Option<long>("--circuit-data-limit") { Description = "The relay's data limit per direction in the demo.", DefaultValueFactory = _ => 64 * 1024 };
        var command = new Command("demo", "Run a relay, a private node and a dialer over loopback TCP and narrate the flow.") { limit };
        command.SetAction(async (parse, cancellationToken) =>
        {
            try
            {
                return await RunAsync(parse.GetValue(limit), parse.GetValue(verbose), cancellationToken);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                Output.Line($"error {CommandHelpers.Describe(ex)}");
                return 1;
            }
        });
        return command;
    }

    private static async Task<int> RunAsync(long dataLimit, bool verbose, CancellationToken cancellationToken)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(TimeSpan.FromMinutes(2));
        CancellationToken token = deadline.Token;

        Narrate("1. The relay: a public node listening on loopback TCP and running the Circuit Relay v2 service.");
        await using NodeRuntime relayNode = await NodeRuntime.StartAsync(null, ["/ip4/127.0.0.1/tcp/0"], verbose, token);
        var options = new RelayServerOptions { CircuitDataLimit = dataLimit, CircuitDurationLimit = TimeSpan.FromMinutes(2) };
        RelayServer relay = relayNode.Own(new RelayServer(relayNode.Host, options, relayNode.LoggerFactory, relayNode.Meters, TimeProvider.System));
        relay.Start();
        Multiaddr relayAddress = relayNode.Host.ListenAddresses[0].WithPeerId(relayNode.Id);
        Output.Line($"listening {relayAddress}");

        Narrate("2. The private node: no listen address of its own; it reserves a slot on the relay (hop RESERVE).");
        await using NodeRuntime privateNode = await NodeRuntime.StartAsync(null, [], verbose, token);
        CircuitListener listener = await privateNode.ListenThroughRelayAsync(relayAddress, token);
        Narrate($"   reservation until {listener.Reservation.Expiry:u}, voucher signed by the relay: {listener.Reservation.Voucher is not null}, "
            + $"limit {listener.Reservation.Limit?.DataBytes} bytes per direction / {listener.Reservation.Limit?.Duration.TotalSeconds} s; renewed automatically before expiry.");

        Narrate("3. The dialer connects to the private node through the relay (hop CONNECT -> stop CONNECT), then Noise + Yamux end to end.");
        await using NodeRuntime dialer = await NodeRuntime.StartAsync(null, [], verbose, token);
        Multiaddr target = listener.ListenAddresses[0].WithPeerId(privateNode.Id);
        var connection = await dialer.Host.DialAsync(target, cancellationToken: token);
        Narrate($"   connected to {connection.RemotePeer} (relayed: {connection.IsRelayed}, limit: {connection.Limit?.DataBytes} B)");

        int failures = 0;
        long small = Math.Max(1, dataLimit / 4);
        TimeSpan elapsed = await EchoProtocol.RunAsync(dialer.Host, privateNode.Id, small, token);
        Output.Line($"echo ok {small} bytes in {(long)elapsed.TotalMilliseconds} ms ({CommandHelpers.Rate(small, elapsed)} MiB/s)");

        TimeSpan rtt = await dialer.Host.PingAsync(privateNode.Id, token);
        Output.Line($"ping ok {(long)rtt.TotalMilliseconds}");

        if (dataLimit > 0)
        {
            Narrate($"4. The limit: sending {dataLimit * 4} bytes over a circuit limited to {dataLimit} bytes per direction.");
            try
            {
                await EchoProtocol.RunAsync(dialer.Host, privateNode.Id, dataLimit * 4, token);
                Narrate("   UNEXPECTED: the echo went through the limit");
                failures++;
            }
            catch (Exception ex) when (ex is IOException or InvalidDataException)
            {
                Narrate($"   the relay closed the circuit at the limit, as expected ({ex.Message})");
            }
        }

        RelayServerStatistics stats = relay.GetStatistics();
        Narrate($"5. Relay statistics: {stats.ReservationsAccepted} reservation(s), {stats.CircuitsOpened} circuit(s), {stats.BytesToTarget} B to target, {stats.BytesToSource} B to source.");

        failures += await RunAutomaticAsync(dialer, verbose, token);
        Output.Line(failures == 0 ? "demo ok" : "demo failed");
        return failures == 0 ? 0 : 1;
    }

    /// <summary>
    /// Part two: three relays that advertise themselves, and a private node given nothing but their addresses (one of
    /// them without its peer id). It chooses a relay, reserves, and when that relay goes away it is reachable again
    /// through another one, without anyone's help.
    /// </summary>
    private static async Task<int> RunAutomaticAsync(NodeRuntime dialer, bool verbose, CancellationToken token)
    {
        Narrate("6. Automatic relays: three relays with the relay service on, each advertising itself (signed advert, gossiped).");
        var relays = new List<NodeRuntime>();
        try
        {
            for (int i = 0; i < 3; i++)
            {
                NodeRuntime relay = await NodeRuntime.StartAsync(null, ["/ip4/127.0.0.1/tcp/0"], verbose, token);
                relays.Add(relay);
                relay.StartRelayService(new RelayServerOptions { CircuitDataLimit = 0, CircuitDurationLimit = TimeSpan.Zero }, new Adverts.RelayAdvertOptions());
                relay.StartGossip();
                Output.Line($"listening {relay.Host.ListenAddresses[0].WithPeerId(relay.Id)}");
            }

            Narrate("7. A private node given only a candidate list (the last without a peer id: it is probed) keeps one reservation.");
            var options = new AutoRelay.AutoRelayOptions { DesiredReservations = 1 };
            options.Candidates.Add(relays[0].Host.ListenAddresses[0].WithPeerId(relays[0].Id));
            options.Candidates.Add(relays[1].Host.ListenAddresses[0].WithPeerId(relays[1].Id));
            options.Candidates.Add(relays[2].Host.ListenAddresses[0]);
            await using NodeRuntime node = await NodeRuntime.StartAsync(null, [], verbose, token);
            var reachable = System.Threading.Channels.Channel.CreateUnbounded<Multiaddr>();
            AutoRelay.AutoRelayService worker = node.StartAutoRelay(options, new AutoRelay.RelayPoolOptions { RngSeed = 1 });
            worker.ReservationOpened += (_, e) => reachable.Writer.TryWrite(e.CircuitAddresses[0].WithPeerId(node.Id));
            node.StartGossip();

            Multiaddr first = await reachable.Reader.ReadAsync(token);
            int failures = await EchoThroughAsync(dialer, node, first, token);

            NodeRuntime holder = relays.Single(r => first.ToString().Contains($"/p2p/{r.Id}/p2p-circuit", StringComparison.Ordinal));
            Narrate($"8. The relay holding the reservation ({holder.Id}) goes away; the node replaces it at once from its pool.");
            relays.Remove(holder);
            await holder.DisposeAsync();
            Multiaddr second = await reachable.Reader.ReadAsync(token);
            failures += await EchoThroughAsync(dialer, node, second, token);
            AutoRelay.AutoRelaySnapshot snapshot = worker.GetSnapshot();
            Narrate($"   AutoRelay: {snapshot.HeldReservations} of {snapshot.DesiredReservations} reservation(s) held, {snapshot.Counters.ReservationsOpened} opened, "
                + $"{snapshot.Counters.ReservationsLost} lost, {snapshot.Counters.ProbesSucceeded} probe(s); {snapshot.BookEntries} relay(s) in the book.");
            return failures;
        }
        finally
        {
            foreach (NodeRuntime relay in relays)
            {
                await relay.DisposeAsync();
            }
        }
    }

    private static async Task<int> EchoThroughAsync(NodeRuntime dialer, NodeRuntime node, Multiaddr circuit, CancellationToken token)
    {
        var connection = await dialer.Host.DialAsync(circuit, cancellationToken: token);
        TimeSpan elapsed = await EchoProtocol.RunAsync(dialer.Host, node.Id, 64 * 1024, token);
        Output.Line($"echo ok {64 * 1024} bytes in {(long)elapsed.TotalMilliseconds} ms through {circuit} (relayed: {connection.IsRelayed})");
        return connection.IsRelayed ? 0 : 1;
    }

    private static void Narrate(string text) => Output.Line("# " + text);
}
