using System.Globalization;
using System.Text.RegularExpressions;

namespace CircuitRelay.LoadTest;

/// <summary>Which implementation runs the dialer of a scenario.</summary>
internal enum DialerKind
{
    Dotnet,
    Js,
}

/// <summary>One throughput scenario: how to start its servers and who dials.</summary>
/// <param name="Key">a, b, c or d.</param>
/// <param name="Title">The table label.</param>
/// <param name="NeedsJs">Whether any of its peers is the js peer.</param>
/// <param name="Dialer">Who dials.</param>
/// <param name="SetupAsync">Starts the servers (adding each to the list as soon as it runs) and returns the address to dial.</param>
internal sealed record ThroughputScenario(
    string Key,
    string Title,
    bool NeedsJs,
    DialerKind Dialer,
    Func<List<RunningPeer>, CancellationToken, Task<string>> SetupAsync);

/// <summary>The outcome of one scenario: MiB/s of every measured run, or why it failed.</summary>
internal sealed record ScenarioResult(ThroughputScenario Scenario, IReadOnlyList<double> Runs, string? Error)
{
    public double? Median => Runs.Count == 0 ? null : Statistics.Median(Runs);
}

/// <summary>
/// Part 1: echo <c>--mib</c> MiB each way over <c>/echo/1.0.0</c> on 127.0.0.1, with a fresh set of
/// processes per scenario and a fresh dialer process per run, and report the dial command's own timing.
/// </summary>
internal sealed partial class ThroughputTest(PeerLauncher launcher, LoadTestOptions options, TextWriter output)
{
    private const long WarmUpBytes = 1024 * 1024;

    /// <summary>Runs every scenario (a failed one is reported and the others still run).</summary>
    public async Task<IReadOnlyList<ScenarioResult>> RunAsync(CancellationToken cancellationToken)
    {
        List<ScenarioResult> results = [];
        foreach (ThroughputScenario scenario in Scenarios())
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (scenario.NeedsJs && options.SkipJs)
            {
                results.Add(new ScenarioResult(scenario, [], "skipped (--skip-js)"));
                continue;
            }

            output.WriteLine($"({scenario.Key}) {scenario.Title}");
            try
            {
                results.Add(new ScenarioResult(scenario, await RunScenarioAsync(scenario, cancellationToken), null));
            }
            catch (LoadTestException ex)
            {
                output.WriteLine($"    FAILED: {ex.Message}");
                results.Add(new ScenarioResult(scenario, [], "FAILED: " + FirstLine(ex.Message)));
            }
        }

        return results;
    }

    /// <summary>Prints the table and the ratios; returns whether every ratio with a target could be computed and meets it.</summary>
    public bool PrintReport(IReadOnlyList<ScenarioResult> results)
    {
        output.WriteLine();
        output.WriteLine($"Throughput: {options.Mib} MiB each way through /echo/1.0.0, 127.0.0.1, no circuit limit, median of {options.Runs} run(s)");
        output.WriteLine();
        output.WriteLine("| scenario | median MiB/s | runs (MiB/s) |");
        output.WriteLine("|---|---:|---|");
        foreach (ScenarioResult result in results)
        {
            string median = result.Median is { } m ? Format(m) : "-";
            string runs = result.Error ?? string.Join(", ", result.Runs.Select(Format));
            output.WriteLine($"| ({result.Scenario.Key}) {result.Scenario.Title} | {median} | {runs} |");
        }

        double? Median(string key) => results.FirstOrDefault(r => r.Scenario.Key == key)?.Median;
        double? a = Median("a"), b = Median("b"), c = Median("c"), d = Median("d");
        output.WriteLine();
        output.WriteLine("| ratio | value | target | met |");
        output.WriteLine("|---|---:|---|---|");
        bool met = true;
        met &= Ratio("b/a (relayed vs direct, .NET)", b, a, 0.5);
        Ratio("b/c (.NET relay vs js relay, .NET ends)", b, c, null);
        met &= Ratio("b/d (.NET stack vs js stack, relayed)", b, d, 10);
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

    private IEnumerable<ThroughputScenario> Scenarios()
    {
        // The .NET relay's per-peer caps are raised so warm-up + runs never hit them (the listener is the target of every circuit).
        string[] relayCaps = ["--max-circuits-per-peer", "1024", "--connect-rate-per-peer", "0"];
        yield return new ThroughputScenario("a", ".NET dialer → .NET listener, direct", false, DialerKind.Dotnet, async (servers, token) =>
        {
            RunningPeer listener = Add(servers, await launcher.StartDotnetDirectListenerAsync(".NET listener", token));
            return listener.Address;
        });
        yield return new ThroughputScenario("b", ".NET dialer → .NET relay → .NET listener", false, DialerKind.Dotnet, async (servers, token) =>
        {
            RunningPeer relay = Add(servers, await launcher.StartDotnetRelayAsync(".NET relay", relayCaps, token));
            RunningPeer listener = Add(servers, await launcher.StartDotnetRelayedListenerAsync(".NET listener", relay.Address, token));
            return listener.Address;
        });
        yield return new ThroughputScenario("c", ".NET dialer → js relay → .NET listener", true, DialerKind.Dotnet, async (servers, token) =>
        {
            RunningPeer relay = Add(servers, await launcher.StartJsRelayAsync("js relay", token));
            RunningPeer listener = Add(servers, await launcher.StartDotnetRelayedListenerAsync(".NET listener", relay.Address, token));
            return listener.Address;
        });
        yield return new ThroughputScenario("d", "js dialer → js relay → js listener", true, DialerKind.Js, async (servers, token) =>
        {
            RunningPeer relay = Add(servers, await launcher.StartJsRelayAsync("js relay", token));
            RunningPeer listener = Add(servers, await launcher.StartJsRelayedListenerAsync("js listener", relay.Address, token));
            return listener.Address;
        });
    }

    private static RunningPeer Add(List<RunningPeer> servers, RunningPeer peer)
    {
        servers.Add(peer);
        return peer;
    }

    private async Task<List<double>> RunScenarioAsync(ThroughputScenario scenario, CancellationToken cancellationToken)
    {
        List<RunningPeer> servers = [];
        try
        {
            string target = await scenario.SetupAsync(servers, cancellationToken);
            output.WriteLine($"    servers up ({string.Join(", ", servers.Select(s => $"{s.Process.Name} pid {s.Process.Pid}"))}); dialing {target}");

            // Not counted: lets the servers JIT their hot paths so run 1 is comparable with the others.
            DialResult warmUp = await DialAsync(scenario.Dialer, target, Math.Min(WarmUpBytes, options.Bytes), cancellationToken);
            output.WriteLine($"    warm-up: {warmUp}");

            List<double> runs = [];
            for (int run = 1; run <= options.Runs; run++)
            {
                DialResult result = await DialAsync(scenario.Dialer, target, options.Bytes, cancellationToken);
                output.WriteLine($"    run {run}/{options.Runs}: {result}");
                runs.Add(result.MibPerSecond);
            }

            return runs;
        }
        finally
        {
            // Last started, first stopped: listeners before their relay.
            for (int i = servers.Count - 1; i >= 0; i--)
            {
                await servers[i].Process.DisposeAsync();
            }
        }
    }

    private async Task<DialResult> DialAsync(DialerKind kind, string target, long bytes, CancellationToken cancellationToken)
    {
        string timeout = ((int)options.StepTimeout.TotalSeconds).ToString(CultureInfo.InvariantCulture);
        string size = bytes.ToString(CultureInfo.InvariantCulture);
        await using ChildProcess dial = kind == DialerKind.Dotnet
            ? launcher.StartDotnet(".NET dial", "dial", target, "--bytes", size, "--timeout", timeout)
            : launcher.StartJs("js dial", "dial", target, "--bytes", size, "--timeout", timeout);

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
