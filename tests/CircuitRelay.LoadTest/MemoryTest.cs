using System.Diagnostics;
using System.Globalization;
using CircuitRelay.Client;
using CircuitRelay.Crypto;
using CircuitRelay.Abstractions;
using CircuitRelay.ReferenceHost;
using CircuitRelay.Transport;
using Microsoft.Extensions.Logging;

namespace CircuitRelay.LoadTest;

/// <summary>The relay's memory at each stage of part 2, in KiB.</summary>
internal sealed record MemoryReport(
    string RelayKind,
    int Circuits,
    ProcMemory AtStart,
    ProcMemory PeersConnected,
    ProcMemory WithCircuits,
    IReadOnlyList<long> SettleSamplesKiB,
    TimeSpan OpenTime);

/// <summary>
/// Part 2: a .NET relay process with raised caps; in this process a listener host (reservation +
/// <see cref="CircuitListener"/> through the host's <c>ListenAsync</c>) and a dialer host open <c>--circuits</c> relayed
/// connections, <c>--concurrency</c> at a time, and keep them idle while the relay's VmRSS/VmHWM are read.
/// </summary>
internal sealed class MemoryTest(PeerLauncher launcher, LoadTestOptions options, TextWriter output)
{
    /// <summary>Every circuit is a connection of its own, though they all go to the same listener.</summary>
    private static readonly DialOptions ForceNew = new() { ForceNewConnection = true };

    private const int SettleSamples = 5;

    public async Task<MemoryReport> RunAsync(CancellationToken cancellationToken)
    {
        int caps = Math.Max(2000, options.Circuits);
        string capsText = caps.ToString(CultureInfo.InvariantCulture);
        (ChildProcess process, string kind) = await StartRelayProcessAsync(capsText, cancellationToken);
        await using (process)
        {
            string relayText = (await process.WaitForLineAsync("listening ", options.StepTimeout, cancellationToken)).Trim();
            await process.WaitForLineAsync("ready", options.StepTimeout, cancellationToken);
            Multiaddr relayAddress = Multiaddr.Parse(relayText);
            ProcMemory atStart = ProcMemory.Read(process.Pid);
            output.WriteLine($"    relay up: {kind}, pid {process.Pid}, {relayAddress}; VmRSS {ProcMemory.Mib(atStart.RssKiB)}");

            using ILoggerFactory loggerFactory = LoggerFactory.Create(builder =>
            {
                builder.AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace); // stderr: stdout carries the report
                builder.AddSimpleConsole(o => o.SingleLine = true);
                builder.SetMinimumLevel(LogLevel.Warning);
            });
            using var meters = new LoadTestMeterFactory();
            var clientOptions = new RelayClientOptions { AcceptBacklog = Math.Max(16, options.Concurrency * 2) };

            // The listener: reserves on the relay and upgrades every circuit the relay brings.
            await using Libp2pHost listenerHost = await Libp2pHost.StartAsync(KeyIdentity.Generate(), new Libp2pHostOptions(), loggerFactory, TimeProvider.System, cancellationToken);
            await using var listenerClient = new RelayClient(listenerHost, clientOptions, loggerFactory, meters, TimeProvider.System);
            listenerClient.Start();
            var listenerTransport = new CircuitTransport(listenerClient);
            listenerHost.AddTransport(listenerTransport);
            int accepted = 0;
            var allAccepted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            listenerHost.ConnectionOpened += (_, e) =>
            {
                if (e.Connection.IsRelayed && Interlocked.Increment(ref accepted) >= options.Circuits)
                {
                    allAccepted.TrySetResult();
                }
            };
            await using ITransportListener listener = await WithTimeout(
                token => listenerHost.ListenAsync(relayAddress.Encapsulate("/p2p-circuit"), token).AsTask(),
                "reserving on the relay",
                cancellationToken);
            Multiaddr circuitAddress = listener.Addresses[0].WithPeerId(listenerHost.Identity.PeerId);

            // The dialer: connected to the relay first, so the "peers connected" figure holds both peers' connections.
            await using Libp2pHost dialerHost = await Libp2pHost.StartAsync(KeyIdentity.Generate(), new Libp2pHostOptions(), loggerFactory, TimeProvider.System, cancellationToken);
            await using var dialerClient = new RelayClient(dialerHost, clientOptions, loggerFactory, meters, TimeProvider.System);
            dialerClient.Start();
            dialerHost.AddTransport(new CircuitTransport(dialerClient));
            await WithTimeout(token => dialerHost.DialAsync(relayAddress, cancellationToken: token).AsTask(), "connecting the dialer to the relay", cancellationToken);
            ProcMemory peersConnected = ProcMemory.Read(process.Pid);
            output.WriteLine($"    listener reserved ({circuitAddress}), dialer connected; relay VmRSS {ProcMemory.Mib(peersConnected.RssKiB)}");

            TimeSpan openTime = await OpenCircuitsAsync(dialerHost, circuitAddress, cancellationToken);
            try
            {
                await allAccepted.Task.WaitAsync(options.StepTimeout, cancellationToken);
            }
            catch (TimeoutException)
            {
                throw new LoadTestException($"the dialer opened {options.Circuits} circuits but the listener upgraded only {Volatile.Read(ref accepted)} within {options.StepTimeout.TotalSeconds:F0} s");
            }

            output.WriteLine($"    {options.Circuits} circuits open and upgraded on both ends in {openTime.TotalSeconds:F1} s ({options.Circuits / openTime.TotalSeconds:F0} circuits/s)");

            // Idle: sample the relay once a second while its allocations settle; the last sample is the figure.
            List<long> samples = [];
            using (var timer = new PeriodicTimer(TimeSpan.FromSeconds(1)))
            {
                for (int i = 0; i < SettleSamples && await timer.WaitForNextTickAsync(cancellationToken); i++)
                {
                    samples.Add(ProcMemory.Read(process.Pid).RssKiB);
                }
            }

            ProcMemory withCircuits = ProcMemory.Read(process.Pid);
            CheckStillOpen(dialerHost, listenerHost);
            output.WriteLine($"    idle samples (VmRSS, 1 s apart): {string.Join(", ", samples.Select(ProcMemory.Mib))}; all {options.Circuits} circuits still open");
            output.WriteLine("    closing the circuits and the hosts");
            return new MemoryReport(kind, options.Circuits, atStart, peersConnected, withCircuits, samples, openTime);
        }
    }

    public void PrintReport(MemoryReport report)
    {
        long perCircuitBase = report.WithCircuits.RssKiB - report.PeersConnected.RssKiB;
        output.WriteLine();
        output.WriteLine($"Relay memory: {report.RelayKind}, {report.Circuits} idle circuits (opened {options.Concurrency} at a time), VmRSS/VmHWM of the relay process");
        output.WriteLine();
        output.WriteLine("| stage | VmRSS | VmHWM |");
        output.WriteLine("|---|---:|---:|");
        output.WriteLine($"| baseline: relay started | {ProcMemory.Mib(report.AtStart.RssKiB)} | {ProcMemory.Mib(report.AtStart.HwmKiB)} |");
        output.WriteLine($"| listener reserved + dialer connected | {ProcMemory.Mib(report.PeersConnected.RssKiB)} | {ProcMemory.Mib(report.PeersConnected.HwmKiB)} |");
        output.WriteLine($"| with {report.Circuits} idle circuits | {ProcMemory.Mib(report.WithCircuits.RssKiB)} | {ProcMemory.Mib(report.WithCircuits.HwmKiB)} (peak) |");
        output.WriteLine();
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"per circuit: {(double)perCircuitBase / report.Circuits:F1} KiB (VmRSS with circuits − VmRSS with both peers connected, ÷ {report.Circuits})"));
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"per circuit, from the start baseline: {(double)(report.WithCircuits.RssKiB - report.AtStart.RssKiB) / report.Circuits:F1} KiB; peak per circuit: {(double)(report.WithCircuits.HwmKiB - report.AtStart.RssKiB) / report.Circuits:F1} KiB"));
    }

    private async Task<(ChildProcess Process, string Kind)> StartRelayProcessAsync(string caps, CancellationToken cancellationToken)
    {
        string[] cliCaps = ["--max-circuits", caps, "--max-circuits-per-peer", caps, "--connect-rate-per-peer", "0", "--reservation-rate-per-peer", "0"];
        if (await CliHasPerIpRateLimitAsync(cancellationToken))
        {
            ChildProcess cli = launcher.StartDotnet(".NET relay", ["relay", "--listen", "/ip4/127.0.0.1/tcp/0", "--circuit-data-limit", "0", "--circuit-duration-limit", "0", .. cliCaps, "--connect-rate-per-ip", "0"]);
            return (cli, "node CLI `relay " + string.Join(' ', cliCaps) + " --connect-rate-per-ip 0`");
        }

        output.WriteLine("    note: the node CLI has no --connect-rate-per-ip option, and its relay allows 60 connects a minute per IP");
        output.WriteLine("          (all circuits here come from 127.0.0.1); using this app's `relay-host` mode instead: the same");
        output.WriteLine("          host and RelayServer, per-IP rate limits off.");
        ChildProcess self = launcher.StartSelf(".NET relay (relay-host)", RelayHostMode.Command, "--max-circuits", caps);
        return (self, $"CircuitRelay.LoadTest relay-host (RelayServer, caps {caps}, no rate limits, no circuit limit)");
    }

    /// <summary>Whether <c>relay --help</c> of the node CLI lists <c>--connect-rate-per-ip</c>.</summary>
    private async Task<bool> CliHasPerIpRateLimitAsync(CancellationToken cancellationToken)
    {
        await using ChildProcess help = launcher.StartDotnet(".NET relay --help", "relay", "--help");
        IReadOnlyList<string> lines = await help.ReadAllLinesAsync(TimeSpan.FromSeconds(60), cancellationToken);
        return lines.Any(line => line.TrimStart().StartsWith("--connect-rate-per-ip", StringComparison.Ordinal));
    }

    private async Task<TimeSpan> OpenCircuitsAsync(Libp2pHost dialer, Multiaddr circuitAddress, CancellationToken cancellationToken)
    {
        int opened = 0;
        int reportEvery = Math.Max(1, options.Circuits / 10);
        var stopwatch = Stopwatch.StartNew();
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(options.StepTimeout);
        try
        {
            await Parallel.ForEachAsync(
                Enumerable.Range(0, options.Circuits),
                new ParallelOptions { MaxDegreeOfParallelism = options.Concurrency, CancellationToken = deadline.Token },
                async (_, token) =>
                {
                    ConnectionInfo connection = await dialer.DialAsync(circuitAddress, ForceNew, token);
                    if (!connection.IsRelayed)
                    {
                        throw new LoadTestException($"ConnectAsync({circuitAddress}) returned a direct connection");
                    }

                    int count = Interlocked.Increment(ref opened);
                    if (count % reportEvery == 0)
                    {
                        output.WriteLine($"      {count} circuits ({stopwatch.Elapsed.TotalSeconds:F1} s)");
                    }
                });
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new LoadTestException($"only {Volatile.Read(ref opened)} of {options.Circuits} circuits opened within {options.StepTimeout.TotalSeconds:F0} s");
        }
        catch (Exception ex) when (ex is not (OperationCanceledException or LoadTestException))
        {
            throw new LoadTestException($"opening circuits failed after {Volatile.Read(ref opened)} of {options.Circuits}: {ex.GetType().Name}: {ex.Message}", ex);
        }

        return stopwatch.Elapsed;
    }

    private void CheckStillOpen(Libp2pHost dialer, Libp2pHost listener)
    {
        int dialerSide = dialer.GetConnections(listener.Identity.PeerId).Count(c => c.IsRelayed);
        int listenerSide = listener.GetConnections(dialer.Identity.PeerId).Count(c => c.IsRelayed);
        if (dialerSide != options.Circuits || listenerSide != options.Circuits)
        {
            throw new LoadTestException($"after the idle period the dialer holds {dialerSide} and the listener {listenerSide} relayed connections, not {options.Circuits}");
        }
    }

    private async Task<T> WithTimeout<T>(Func<CancellationToken, Task<T>> step, string what, CancellationToken cancellationToken)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(options.StepTimeout);
        try
        {
            return await step(deadline.Token);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new LoadTestException($"{what} did not finish within {options.StepTimeout.TotalSeconds:F0} s");
        }
        catch (Exception ex) when (ex is IOException or RelayException or InvalidOperationException)
        {
            throw new LoadTestException($"{what} failed: {ex.GetType().Name}: {ex.Message}", ex);
        }
    }
}
