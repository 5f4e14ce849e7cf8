using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using CircuitRelay.Abstractions;
using CircuitRelay.Client;
using CircuitRelay.Crypto;
using CircuitRelay.ReferenceHost;
using Microsoft.Extensions.Logging.Abstractions;

namespace CircuitRelay.LoadTest;

/// <summary>
/// Part 4: one address floods the .NET relay (<c>node --relay-service on</c>, default caps) with 3,000 connections held
/// open, half stalled before the handshake and half idle after it, while a peer from another address (127.0.0.2)
/// reserves; the baseline is the same reservation before the flood, in the same run. Then the relay's memory per idle,
/// handshaken connection, measured with the per-address caps off and 1,000 such connections.
/// </summary>
internal sealed class ConnectionFloodTest(PeerLauncher launcher, LoadTestOptions options, TextWriter output)
{
    private const int Stalled = 1500;
    private const int Handshaken = 1500;
    private const int IdleForMemory = 1000;

    public async Task<ConnectionFloodReport> RunAsync(CancellationToken cancellationToken)
    {
        double baseline, underFlood;
        int accepted;
        await using (ChildProcess relay = launcher.StartDotnet(".NET relay", "node", "--relay-service", "on", "--listen", "/ip4/127.0.0.1/tcp/0"))
        {
            Multiaddr address = Multiaddr.Parse((await relay.WaitForLineAsync("listening ", options.StepTimeout, cancellationToken)).Trim());
            await relay.WaitForLineAsync("ready", options.StepTimeout, cancellationToken);
            await TimeReservationFromElsewhereAsync(address, cancellationToken); // warm-up: compiles the path
            baseline = await MedianReservationAsync(address, cancellationToken);

            var sockets = new List<Socket>();
            await using Libp2pHost attacker = await StartHostAsync(listen: null, cancellationToken);
            try
            {
                // Handshaken and idle first (they take the address's places), then stalled ones on top.
                accepted = 0;
                var dial = new DialOptions { ForceNewConnection = true };
                await Parallel.ForEachAsync(Enumerable.Range(0, Handshaken), new ParallelOptions { MaxDegreeOfParallelism = 32, CancellationToken = cancellationToken }, async (_, token) =>
                {
                    try
                    {
                        await attacker.DialAsync(address, dial, token);
                        Interlocked.Increment(ref accepted);
                    }
                    catch (Exception ex) when (ex is IOException or TimeoutException)
                    {
                        // Reset at accept: over the per-address cap.
                    }
                });

                IPEndPoint relayEndPoint = address.TryGetIPEndPoint(out IPEndPoint? endPoint) ? endPoint : throw new LoadTestException($"not an IP address: {address}");
                for (int i = 0; i < Stalled; i++)
                {
                    var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                    sockets.Add(socket);
                    try
                    {
                        await socket.ConnectAsync(relayEndPoint, cancellationToken);
                    }
                    catch (SocketException)
                    {
                        // Refused: the relay is full for this address.
                    }
                }

                underFlood = await MedianReservationAsync(address, cancellationToken);
                output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"    flood held: {Stalled} stalled sockets and {Handshaken} handshake attempts from 127.0.0.1; {accepted} handshakes got through"));
            }
            finally
            {
                foreach (Socket socket in sockets)
                {
                    socket.Dispose();
                }
            }
        }

        double perConnection = await MeasureIdleConnectionMemoryAsync(cancellationToken);
        return new ConnectionFloodReport(baseline, underFlood, accepted, perConnection);
    }

    public void PrintReport(ConnectionFloodReport report)
    {
        output.WriteLine();
        output.WriteLine("  | step | ms |");
        output.WriteLine("  |---|---:|");
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  | baseline: a peer at 127.0.0.2 connects and reserves, no flood (median of 5) | {report.BaselineMs:F1} |"));
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  | the same while 127.0.0.1 holds {Stalled} stalled and {Handshaken} handshaken connections (goal <= 1000; median of 5) | {report.UnderFloodMs:F1} |"));
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  under flood / baseline: {report.UnderFloodMs / report.BaselineMs:F2}; handshaken connections the relay kept from the flooding address: {report.FloodAccepted} (cap 32 per IP)"));
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  relay memory per idle handshaken connection ({IdleForMemory}, per-address caps off): {report.KiBPerIdleConnection:F1} KiB"));
    }

    private static async Task<double> MedianReservationAsync(Multiaddr relay, CancellationToken cancellationToken)
    {
        var times = new List<double>();
        for (int i = 0; i < 5; i++)
        {
            times.Add(await TimeReservationFromElsewhereAsync(relay, cancellationToken));
        }

        return times.Order().ElementAt(times.Count / 2);
    }

    /// <summary>A fresh host listening on 127.0.0.2 dials from that address (its listen port) and reserves: the milliseconds it takes.</summary>
    private static async Task<double> TimeReservationFromElsewhereAsync(Multiaddr relay, CancellationToken cancellationToken)
    {
        await using Libp2pHost host = await StartHostAsync("/ip4/127.0.0.2/tcp/0", cancellationToken);
        await using var client = new RelayClient(host, new RelayClientOptions(), NullLoggerFactory.Instance, new LoadTestMeterFactory(), TimeProvider.System);
        client.Start();
        var watch = Stopwatch.StartNew();
        ConnectionInfo connection = await host.DialAsync(relay, new DialOptions { ReuseListenPort = true }, cancellationToken);
        if (!connection.LocalAddress!.ToString().StartsWith("/ip4/127.0.0.2/", StringComparison.Ordinal))
        {
            throw new LoadTestException($"the legitimate peer dialed from {connection.LocalAddress}, not 127.0.0.2");
        }

        await using RelayReservation reservation = await client.ReserveAsync(relay.GetPeerId()!, [relay.WithoutPeerId()], cancellationToken);
        return watch.Elapsed.TotalMilliseconds;
    }

    /// <summary>RSS of a relay with the per-address caps off, before and after <see cref="IdleForMemory"/> idle handshaken connections, per connection.</summary>
    private async Task<double> MeasureIdleConnectionMemoryAsync(CancellationToken cancellationToken)
    {
        await using ChildProcess relay = launcher.StartDotnet(
            ".NET relay (no per-address caps)",
            "node", "--relay-service", "on", "--listen", "/ip4/127.0.0.1/tcp/0",
            "--max-connections-per-ip", "0", "--max-connections-per-subnet", "0", "--max-inbound-connections", "4096", "--idle-timeout", "0");
        Multiaddr address = Multiaddr.Parse((await relay.WaitForLineAsync("listening ", options.StepTimeout, cancellationToken)).Trim());
        await relay.WaitForLineAsync("ready", options.StepTimeout, cancellationToken);
        await using Libp2pHost idle = await StartHostAsync(listen: null, cancellationToken);
        await idle.DialAsync(address, cancellationToken: cancellationToken);
        await Task.Delay(TimeSpan.FromSeconds(1), cancellationToken); // let the relay settle before its baseline
        long before = ProcMemory.Read(relay.Pid).RssKiB;
        var dial = new DialOptions { ForceNewConnection = true };
        await Parallel.ForEachAsync(Enumerable.Range(0, IdleForMemory), new ParallelOptions { MaxDegreeOfParallelism = 32, CancellationToken = cancellationToken }, async (_, token) =>
            await idle.DialAsync(address, dial, token));
        await Task.Delay(TimeSpan.FromSeconds(2), cancellationToken); // Identify on each connection finishes
        long after = ProcMemory.Read(relay.Pid).RssKiB;
        return (after - before) / (double)IdleForMemory;
    }

    private static Task<Libp2pHost> StartHostAsync(string? listen, CancellationToken cancellationToken)
    {
        var options = new Libp2pHostOptions();
        if (listen is not null)
        {
            options.ListenAddresses.Add(listen);
        }

        return Libp2pHost.StartAsync(KeyIdentity.Generate(), options, NullLoggerFactory.Instance, TimeProvider.System, cancellationToken);
    }
}

/// <summary>The figures of part 4.</summary>
internal sealed record ConnectionFloodReport(double BaselineMs, double UnderFloodMs, int FloodAccepted, double KiBPerIdleConnection);
