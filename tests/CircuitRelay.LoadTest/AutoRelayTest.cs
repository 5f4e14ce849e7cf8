using System.Diagnostics;
using System.Globalization;

namespace CircuitRelay.LoadTest;

/// <summary>
/// Part 3: how fast a private <c>node</c> given only <c>--relay-candidate</c> addresses becomes reachable on loopback,
/// and how fast it is reachable again through another relay after its relay is killed (<c>kill -9</c>) or frozen
/// (<c>kill -STOP</c>: its TCP connections stay open, nothing answers). The baseline, in the same run, is the manual
/// way: <c>listen --relay &lt;addr&gt;</c> on one relay given by hand.
/// </summary>
internal sealed class AutoRelayTest(PeerLauncher launcher, LoadTestOptions options, TextWriter output)
{
    private const int SigKill = 9;
    private const int SigStop = 19;
    private const int RelayCount = 3;

    private readonly List<Relay> _relays = [];

    /// <summary>Runs <see cref="LoadTestOptions.Runs"/> rounds; every figure is in milliseconds.</summary>
    public async Task<AutoRelayReport> RunAsync(CancellationToken cancellationToken)
    {
        var manual = new List<double>();
        var start = new List<double>();
        var killed = new List<double>();
        var frozen = new List<double>();
        try
        {
            while (_relays.Count < RelayCount)
            {
                _relays.Add(await StartRelayAsync(cancellationToken));
            }

            // One untimed round of each process kind, so the timed ones do not pay for a cold disk cache.
            await using (ChildProcess warm = launcher.StartDotnet("warm-up listener", "listen", "--relay", _relays[0].Address))
            {
                await warm.WaitForLineAsync("reachable ", options.StepTimeout, cancellationToken);
            }

            for (int run = 1; run <= options.Runs; run++)
            {
                var watch = Stopwatch.StartNew();
                await using (ChildProcess listener = launcher.StartDotnet("manual listener", "listen", "--relay", _relays[0].Address))
                {
                    await listener.WaitForLineAsync("reachable ", options.StepTimeout, cancellationToken);
                    manual.Add(watch.Elapsed.TotalMilliseconds);
                }

                string[] candidates = [.. _relays.SelectMany(r => new[] { "--relay-candidate", r.Address })];
                watch.Restart();
                await using ChildProcess node = launcher.StartDotnet("private node", ["node", "--max-relays", "1", .. candidates]);
                string reachable = await node.WaitForLineAsync("reachable ", options.StepTimeout, cancellationToken);
                start.Add(watch.Elapsed.TotalMilliseconds);

                Relay holder = Holder(reachable);
                watch.Restart();
                holder.Process.Signal(SigKill);
                reachable = await node.WaitForLineAsync("reachable ", options.StepTimeout, cancellationToken);
                killed.Add(watch.Elapsed.TotalMilliseconds);
                await ReplaceAsync(holder, cancellationToken);

                holder = Holder(reachable);
                watch.Restart();
                holder.Process.Signal(SigStop);
                await node.WaitForLineAsync("reachable ", options.StepTimeout, cancellationToken);
                frozen.Add(watch.Elapsed.TotalMilliseconds);
                holder.Process.Signal(SigKill);
                await ReplaceAsync(holder, cancellationToken);
                output.WriteLine(string.Create(
                    CultureInfo.InvariantCulture,
                    $"    round {run}: manual {manual[^1]:F0} ms, auto {start[^1]:F0} ms, after kill -9 {killed[^1]:F0} ms, after kill -STOP {frozen[^1]:F0} ms"));
            }
        }
        finally
        {
            foreach (Relay relay in _relays)
            {
                await relay.Process.DisposeAsync();
            }
        }

        return new AutoRelayReport(manual, start, killed, frozen);
    }

    public void PrintReport(AutoRelayReport report)
    {
        output.WriteLine();
        output.WriteLine($"  {RelayCount} .NET relays on loopback; private node: node --max-relays 1 --relay-candidate <each> (liveness ping 5 s, timeout 5 s)");
        output.WriteLine("  | step | median ms | max ms | goal |");
        output.WriteLine("  |---|---:|---:|---|");
        Row("baseline: listen --relay <addr> (one relay by hand), start to reachable", report.Manual, "");
        Row("auto: node with candidates, start to reachable", report.Start, "<= 1000");
        Row("after kill -9 of the holding relay, to reachable via another", report.Killed, "<= 5000");
        Row("after kill -STOP of the holding relay, to reachable via another", report.Frozen, "<= 20000");
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  auto / manual start-to-reachable: {Median(report.Start) / Median(report.Manual):F2}"));
    }

    private void Row(string step, List<double> values, string goal)
        => output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  | {step} | {Median(values):F0} | {values.Max():F0} | {goal} |"));

    private static double Median(List<double> values)
    {
        double[] sorted = [.. values.Order()];
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[(sorted.Length / 2) - 1] + sorted[sorted.Length / 2]) / 2;
    }

    private Relay Holder(string reachable)
        => _relays.FirstOrDefault(r => reachable.Contains($"/p2p/{r.PeerId}/p2p-circuit", StringComparison.Ordinal))
            ?? throw new LoadTestException($"the node is reachable through no relay of the test: {reachable}");

    /// <summary>Puts a fresh relay in the place of one that was killed (its process is reaped).</summary>
    private async Task ReplaceAsync(Relay dead, CancellationToken cancellationToken)
    {
        _relays.Remove(dead);
        await dead.Process.DisposeAsync();
        _relays.Add(await StartRelayAsync(cancellationToken));
    }

    private async Task<Relay> StartRelayAsync(CancellationToken cancellationToken)
    {
        ChildProcess process = launcher.StartDotnet(".NET relay", "node", "--relay-service", "on", "--listen", "/ip4/127.0.0.1/tcp/0");
        try
        {
            string peerId = (await process.WaitForLineAsync("peer ", options.StepTimeout, cancellationToken)).Trim();
            string address = (await process.WaitForLineAsync("listening ", options.StepTimeout, cancellationToken)).Trim();
            await process.WaitForLineAsync("ready", options.StepTimeout, cancellationToken);
            return new Relay(process, peerId, address);
        }
        catch
        {
            await process.DisposeAsync();
            throw;
        }
    }

    private sealed record Relay(ChildProcess Process, string PeerId, string Address);
}

/// <summary>The figures of part 3, in milliseconds per round.</summary>
internal sealed record AutoRelayReport(List<double> Manual, List<double> Start, List<double> Killed, List<double> Frozen);
