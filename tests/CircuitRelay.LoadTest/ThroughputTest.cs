using System.Globalization;
using System.Text.RegularExpressions;

namespace CircuitRelay.LoadTest;

/// <summary>Which implementation runs the dialer of a scenario.</summary>
internal enum DialerKind
{
    Dotnet,
    Js,
}

/// <summary>The servers of a scenario once they run: the address to dial and the relay among them, if any.</summary>
/// <param name="Target">The address the dialer dials.</param>
/// <param name="Relay">The relay process, whose CPU time is reported per relayed GiB.</param>
internal sealed record ScenarioServers(string Target, RunningPeer? Relay);

/// <summary>One throughput scenario: how to start its servers and who dials.</summary>
/// <param name="Key">a, b, c or d.</param>
/// <param name="Title">The table label.</param>
/// <param name="NeedsJs">Whether any of its peers is the js peer.</param>
/// <param name="Dialer">Who dials.</param>
/// <param name="SetupAsync">Starts the servers (adding each to the list as soon as it runs).</param>
/// <param name="DialerCpu">The CPU the dialer is pinned to, or <see langword="null"/> to let it run anywhere.</param>
internal sealed record ThroughputScenario(
    string Key,
    string Title,
    bool NeedsJs,
    DialerKind Dialer,
    Func<List<RunningPeer>, CancellationToken, Task<ScenarioServers>> SetupAsync,
    int? DialerCpu = null);

/// <summary>One timed run: MiB/s, and the relay's CPU seconds during it (when the scenario has a relay).</summary>
internal readonly record struct RunResult(double MibPerSecond, double? RelayCpuSeconds);

/// <summary>The outcome of one scenario: every measured run, or why it failed.</summary>
internal sealed record ScenarioResult(ThroughputScenario Scenario, IReadOnlyList<RunResult> Runs, string? Error)
{
    public double? Median => Runs.Count == 0 ? null : Statistics.Median([.. Runs.Select(r => r.MibPerSecond)]);

    /// <summary>The relay's median CPU seconds per GiB it relayed (both directions counted).</summary>
    public double? RelayCpuPerGib(long bytesEachWay)
    {
        double[] perGib = [.. Runs.Where(r => r.RelayCpuSeconds is not null).Select(r => r.RelayCpuSeconds!.Value / (2.0 * bytesEachWay / (1024.0 * 1024 * 1024)))];
        return perGib.Length == 0 ? null : Statistics.Median(perGib);
    }
}

/// <summary>
/// Part 1: echo <c>--mib</c> MiB each way over <c>/echo/1.0.0</c> on 127.0.0.1 in every scenario. The servers of all
/// scenarios run at once (idle ones cost nothing) and the runs go in rounds, each round running every scenario once,
/// so a busy moment of the machine falls on all scenarios alike. Each run is a fresh dialer process that first echoes
/// <c>--warmup-mib</c> untimed over the same connection, then reports its own timing of the measured echo.
/// </summary>
internal sealed partial class ThroughputTest(PeerLauncher launcher, LoadTestOptions options, TextWriter output)
{
    private const int ServerWarmUps = 3;

    /// <summary>Runs every scenario (a failed one is reported and the others still run).</summary>
    public async Task<IReadOnlyList<ScenarioResult>> RunAsync(CancellationToken cancellationToken)
    {
        List<ThroughputScenario> scenarios = [.. Scenarios()];
        Dictionary<string, string> errors = [];
        List<ActiveScenario> active = [];
        try
        {
            foreach (ThroughputScenario scenario in scenarios)
            {
                if (scenario.NeedsJs && options.SkipJs)
                {
                    errors[scenario.Key] = "skipped (--skip-js)";
                    continue;
                }

                if (scenario.DialerCpu is not null && (options.SkipPinned || !launcher.CanPin))
                {
                    errors[scenario.Key] = options.SkipPinned ? "skipped (--skip-pinned)" : "skipped (needs taskset and 2 CPUs)";
                    continue;
                }

                output.WriteLine($"({scenario.Key}) {scenario.Title}");
                List<RunningPeer> servers = [];
                try
                {
                    ScenarioServers running = await scenario.SetupAsync(servers, cancellationToken);
                    active.Add(new ActiveScenario(scenario, servers, running));
                    output.WriteLine($"    servers up ({string.Join(", ", servers.Select(s => $"{s.Process.Name} pid {s.Process.Pid}"))}); target {running.Target}");
                }
                catch (LoadTestException ex)
                {
                    Fail(scenario, ex, errors);
                    await StopAsync(servers);
                }
            }

            // Not counted: full-size echoes so the servers have compiled their hot paths before round 1. The runtime
            // recompiles hot code in the background, and with every core busy echoing that takes a few transfers.
            foreach (ActiveScenario scenario in active.ToList())
            {
                try
                {
                    for (int i = 1; i <= ServerWarmUps; i++)
                    {
                        DialResult warmUp = await DialAsync(scenario, options.Bytes, warmupBytes: 0, cancellationToken);
                        output.WriteLine($"({scenario.Scenario.Key}) server warm-up {i}/{ServerWarmUps}: {warmUp}");
                    }
                }
                catch (LoadTestException ex)
                {
                    await DropAsync(scenario, ex, active, errors);
                }
            }

            for (int round = 1; round <= options.Runs; round++)
            {
                ActiveScenario[] order = [.. active.Skip((round - 1) % Math.Max(1, active.Count)), .. active.Take((round - 1) % Math.Max(1, active.Count))];
                foreach (ActiveScenario scenario in order)
                {
                    try
                    {
                        RunResult result = await MeasureAsync(scenario, cancellationToken);
                        scenario.Runs.Add(result);
                        output.WriteLine($"({scenario.Scenario.Key}) round {round}/{options.Runs}: {Format(result.MibPerSecond)} MiB/s{(result.RelayCpuSeconds is { } cpu ? string.Create(CultureInfo.InvariantCulture, $", relay CPU {cpu:F2} s") : "")}");
                    }
                    catch (LoadTestException ex)
                    {
                        await DropAsync(scenario, ex, active, errors);
                    }
                }
            }

            return [.. scenarios.Select(s => active.FirstOrDefault(a => a.Scenario == s) is { } done
                ? new ScenarioResult(s, done.Runs, null)
                : new ScenarioResult(s, [], errors.GetValueOrDefault(s.Key, "FAILED")))];
        }
        finally
        {
            foreach (ActiveScenario scenario in active)
            {
                await StopAsync(scenario.Servers);
            }
        }
    }

    /// <summary>Prints the table, the ratios and the crypto ceiling; returns whether every ratio with a target could be computed and meets it.</summary>
    public bool PrintReport(IReadOnlyList<ScenarioResult> results, CryptoCeiling ceiling)
    {
        long relayedEachWay = options.Bytes + options.WarmupBytes;
        output.WriteLine();
        output.WriteLine($"Throughput: {options.Mib} MiB each way through /echo/1.0.0, 127.0.0.1, no circuit limit, median of {options.Runs} round(s)");
        output.WriteLine();
        output.WriteLine("| scenario | median MiB/s | runs (MiB/s) | relay CPU s per GiB relayed |");
        output.WriteLine("|---|---:|---|---:|");
        foreach (ScenarioResult result in results)
        {
            string median = result.Median is { } m ? Format(m) : "-";
            string runs = result.Error ?? string.Join(", ", result.Runs.Select(r => Format(r.MibPerSecond)));
            string cpu = result.RelayCpuPerGib(relayedEachWay) is { } perGib ? perGib.ToString("F2", CultureInfo.InvariantCulture) : "-";
            output.WriteLine($"| ({result.Scenario.Key}) {result.Scenario.Title} | {median} | {runs} | {cpu} |");
        }

        ScenarioResult? Find(string key) => results.FirstOrDefault(r => r.Scenario.Key == key);
        double? a = Find("a")?.Median, b = Find("b")?.Median, c = Find("c")?.Median, d = Find("d")?.Median;
        output.WriteLine();
        output.WriteLine("| ratio | value | target | met |");
        output.WriteLine("|---|---:|---|---|");
        bool met = true;
        met &= Ratio("b/a (relayed vs direct, .NET)", b, a, 0.5);
        Ratio("b/a, median of the per-round ratios", PairedRatio(Find("b"), Find("a")), 1, null);
        Ratio("b/c (.NET relay vs js relay, .NET ends)", b, c, null);
        met &= Ratio("b/d (.NET stack vs js stack, relayed)", b, d, 10);
        Ratio("b'/a' (ends share CPU 0, the relay has CPU 1)", Find("b'")?.Median, Find("a'")?.Median, null);
        Ratio("b'/a', median of the per-round ratios", PairedRatio(Find("b'"), Find("a'")), 1, null);

        output.WriteLine();
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"Crypto ceiling on this machine: ChaCha20-Poly1305 runs at {ceiling.MibPerSecondPerCore:F0} MiB/s on one core (65519-byte Noise messages, encrypt and decrypt alike)."));
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"An echo with Noise on every hop, on {ceiling.Cores} cores and with nothing but the cipher costing anything, can reach at most"));
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  direct:  {ceiling.DirectMibPerSecond:F0} MiB/s (each byte encrypted and decrypted once per direction)"));
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  relayed: {ceiling.RelayedMibPerSecond:F0} MiB/s (three times: both relay legs and the end-to-end session)"));
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"so, with both paths CPU-bound on the same cores, b/a sits near {ceiling.RelayedMibPerSecond / ceiling.DirectMibPerSecond:F2} when both are equally efficient."));
        if (d is { } js)
        {
            output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"b >= 10 x d needs {10 * js:F0} MiB/s relayed: {(10 * js > ceiling.RelayedMibPerSecond ? "above" : "within")} that ceiling."));
        }

        return met;

        bool Ratio(string label, double? numerator, double? denominator, double? target)
        {
            string value = numerator is { } n && denominator is { } q && q > 0 ? (n / q).ToString("F2", CultureInfo.InvariantCulture) : "n/a";
            bool ok = target is null || (value != "n/a" && numerator!.Value / denominator!.Value >= target.Value);
            string targetText = target is { } t ? "≥ " + t.ToString("0.##", CultureInfo.InvariantCulture) : "(informational)";
            string metText = target is null ? "" : value == "n/a" ? "n/a" : ok ? "yes" : "NO";
            output.WriteLine($"| {label} | {value} | {targetText} | {metText} |");
            return ok;
        }
    }

    /// <summary>The median over rounds of numerator/denominator of the same round (both measured within seconds of each other).</summary>
    private static double? PairedRatio(ScenarioResult? numerator, ScenarioResult? denominator)
    {
        if (numerator is null || denominator is null || numerator.Runs.Count == 0 || numerator.Runs.Count != denominator.Runs.Count)
        {
            return null;
        }

        return Statistics.Median([.. numerator.Runs.Zip(denominator.Runs, (n, q) => n.MibPerSecond / q.MibPerSecond)]);
    }

    private IEnumerable<ThroughputScenario> Scenarios()
    {
        // The .NET relay's per-peer caps are raised so warm-ups + runs never hit them (the listener is the target of every circuit).
        string[] relayCaps = ["--max-circuits-per-peer", "1024", "--connect-rate-per-peer", "0", "--connect-rate-per-ip", "0"];
        yield return new ThroughputScenario("a", ".NET dialer → .NET listener, direct", false, DialerKind.Dotnet, async (servers, token) =>
        {
            RunningPeer listener = Add(servers, await launcher.StartDotnetDirectListenerAsync(".NET listener", token));
            return new ScenarioServers(listener.Address, null);
        });
        yield return new ThroughputScenario("b", ".NET dialer → .NET relay → .NET listener", false, DialerKind.Dotnet, async (servers, token) =>
        {
            RunningPeer relay = Add(servers, await launcher.StartDotnetRelayAsync(".NET relay", relayCaps, token));
            RunningPeer listener = Add(servers, await launcher.StartDotnetRelayedListenerAsync(".NET listener", relay.Address, token));
            return new ScenarioServers(listener.Address, relay);
        });
        yield return new ThroughputScenario("c", ".NET dialer → js relay → .NET listener", true, DialerKind.Dotnet, async (servers, token) =>
        {
            RunningPeer relay = Add(servers, await launcher.StartJsRelayAsync("js relay", token));
            RunningPeer listener = Add(servers, await launcher.StartDotnetRelayedListenerAsync(".NET listener", relay.Address, token));
            return new ScenarioServers(listener.Address, relay);
        });
        yield return new ThroughputScenario("d", "js dialer → js relay → js listener", true, DialerKind.Js, async (servers, token) =>
        {
            RunningPeer relay = Add(servers, await launcher.StartJsRelayAsync("js relay", token));
            RunningPeer listener = Add(servers, await launcher.StartJsRelayedListenerAsync("js listener", relay.Address, token));
            return new ScenarioServers(listener.Address, relay);
        });

        // a and b again with a CPU each for the ends and for the relay, as when the relay is a machine of its own.
        yield return new ThroughputScenario("a'", ".NET dialer → .NET listener, direct; both on CPU 0", false, DialerKind.Dotnet, async (servers, token) =>
        {
            RunningPeer listener = Add(servers, await launcher.OnCpu(0).StartDotnetDirectListenerAsync(".NET listener", token));
            return new ScenarioServers(listener.Address, null);
        }, DialerCpu: 0);
        yield return new ThroughputScenario("b'", ".NET dialer → .NET relay → .NET listener; ends on CPU 0, relay on CPU 1", false, DialerKind.Dotnet, async (servers, token) =>
        {
            RunningPeer relay = Add(servers, await launcher.OnCpu(1).StartDotnetRelayAsync(".NET relay", relayCaps, token));
            RunningPeer listener = Add(servers, await launcher.OnCpu(0).StartDotnetRelayedListenerAsync(".NET listener", relay.Address, token));
            return new ScenarioServers(listener.Address, relay);
        }, DialerCpu: 0);
    }

    private static RunningPeer Add(List<RunningPeer> servers, RunningPeer peer)
    {
        servers.Add(peer);
        return peer;
    }

    private void Fail(ThroughputScenario scenario, LoadTestException ex, Dictionary<string, string> errors)
    {
        output.WriteLine($"({scenario.Key}) FAILED: {ex.Message}");
        errors[scenario.Key] = "FAILED: " + FirstLine(ex.Message);
    }

    /// <summary>Reports a scenario that failed after its servers came up, stops them and takes it out of the run.</summary>
    private async Task DropAsync(ActiveScenario scenario, LoadTestException ex, List<ActiveScenario> active, Dictionary<string, string> errors)
    {
        Fail(scenario.Scenario, ex, errors);
        active.Remove(scenario);
        await StopAsync(scenario.Servers);
    }

    private static async Task StopAsync(List<RunningPeer> servers)
    {
        // Last started, first stopped: listeners before their relay.
        for (int i = servers.Count - 1; i >= 0; i--)
        {
            await servers[i].Process.DisposeAsync();
        }

        servers.Clear();
    }

    private async Task<RunResult> MeasureAsync(ActiveScenario scenario, CancellationToken cancellationToken)
    {
        RunningPeer? relay = scenario.Running.Relay;
        double? before = relay is null ? null : ProcCpu.Seconds(relay.Process.Pid);
        DialResult result = await DialAsync(scenario, options.Bytes, options.WarmupBytes, cancellationToken);
        double? after = relay is null ? null : ProcCpu.Seconds(relay.Process.Pid);
        return new RunResult(result.MibPerSecond, after - before);
    }

    private async Task<DialResult> DialAsync(ActiveScenario scenario, long bytes, long warmupBytes, CancellationToken cancellationToken)
    {
        string timeout = ((int)options.StepTimeout.TotalSeconds).ToString(CultureInfo.InvariantCulture);
        string[] arguments = ["dial", scenario.Running.Target, "--bytes", bytes.ToString(CultureInfo.InvariantCulture), "--warmup", warmupBytes.ToString(CultureInfo.InvariantCulture), "--timeout", timeout];
        PeerLauncher dialer = scenario.Scenario.DialerCpu is { } cpu ? launcher.OnCpu(cpu) : launcher;
        await using ChildProcess dial = scenario.Scenario.Dialer == DialerKind.Dotnet
            ? dialer.StartDotnet(".NET dial", arguments)
            : dialer.StartJs("js dial", arguments);

        // The dialer enforces --timeout itself; our bound is a little longer so its own error line wins.
        string line = await dial.WaitForLineAsync("echo ok ", options.StepTimeout + TimeSpan.FromSeconds(30), cancellationToken);
        Match match = EchoLine().Match(line);
        if (!match.Success)
        {
            throw new LoadTestException($"{dial.Name} printed an echo line that does not parse: 'echo ok {line}'");
        }

        long echoed = long.Parse(match.Groups["bytes"].Value, CultureInfo.InvariantCulture);
        long milliseconds = long.Parse(match.Groups["ms"].Value, CultureInfo.InvariantCulture);
        if (echoed != bytes)
        {
            throw new LoadTestException($"{dial.Name} echoed {echoed} bytes, not the {bytes} asked for");
        }

        int exitCode = await dial.WaitForExitAsync(TimeSpan.FromSeconds(30), cancellationToken);
        if (exitCode != 0)
        {
            throw new LoadTestException($"{dial.Name} printed 'echo ok' but exited with code {exitCode}");
        }

        return new DialResult(bytes, milliseconds);
    }

    private static string Format(double mibPerSecond) => mibPerSecond.ToString("F1", CultureInfo.InvariantCulture);

    private static string FirstLine(string text)
    {
        int newline = text.IndexOf('\n', StringComparison.Ordinal);
        return newline < 0 ? text : text[..newline].TrimEnd('\r');
    }

    /// <summary>The dial commands' timing line after "echo ok ": .NET adds "(Y MiB/s)", js does not.</summary>
    [GeneratedRegex(@"^(?<bytes>\d+) bytes in (?<ms>\d+) ms\b", RegexOptions.CultureInvariant)]
    private static partial Regex EchoLine();

    /// <summary>A scenario whose servers run, and its measured runs so far.</summary>
    private sealed record ActiveScenario(ThroughputScenario Scenario, List<RunningPeer> Servers, ScenarioServers Running)
    {
        public List<RunResult> Runs { get; } = [];
    }

    /// <summary>One timed echo: both dialers time from the open echo stream to the last byte back.</summary>
    private readonly record struct DialResult(long Bytes, long Milliseconds)
    {
        /// <summary>MiB echoed (one way) per second; a 0 ms line counts as 1 ms.</summary>
        public double MibPerSecond => Bytes / 1024.0 / 1024.0 / (Math.Max(1, Milliseconds) / 1000.0);

        public override string ToString()
            => string.Create(CultureInfo.InvariantCulture, $"{MibPerSecond:F1} MiB/s ({Bytes / 1024.0 / 1024.0:0.##} MiB in {Milliseconds} ms)");
    }
}

/// <summary>Small statistics helpers.</summary>
internal static class Statistics
{
    /// <summary>The median (mean of the two middle values for an even count).</summary>
    public static double Median(IReadOnlyList<double> values)
    {
        if (values.Count == 0)
        {
            throw new ArgumentException("No values.", nameof(values));
        }

        double[] sorted = [.. values.Order()];
        int middle = sorted.Length / 2;
        return sorted.Length % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
    }
}
