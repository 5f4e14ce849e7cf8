using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;

namespace CircuitRelay.LoadTest;

/// <summary>
/// CircuitRelay load test: (1) relayed echo throughput against a direct baseline and the js-libp2p stack,
/// (2) the .NET relay's memory with many idle circuits, (3) how fast a private node with relay candidates is reachable,
/// and again after its relay dies or freezes. Exit codes: 0 done, 1 a step failed,
/// 2 bad command line, 3 a throughput target was missed (only with <c>--enforce-targets</c>), 130 interrupted.
/// </summary>
internal static class Program
{
    public static async Task<int> Main(string[] args)
    {
        if (args.Length > 0 && args[0] == RelayHostMode.Command)
        {
            return await RelayHostMode.RunAsync(args[1..]);
        }

        LoadTestOptions options;
        try
        {
            options = LoadTestOptions.Parse(args);
        }
        catch (FormatException ex)
        {
            Console.Error.WriteLine($"error: {ex.Message}");
            Console.Error.WriteLine(LoadTestOptions.Usage);
            return 2;
        }

        if (options.Help)
        {
            Console.Out.WriteLine(LoadTestOptions.Usage);
            return 0;
        }

        using var interrupted = new CancellationTokenSource();
        void Interrupt(string why)
        {
            Console.Error.WriteLine($"{why}: stopping the child processes");
            interrupted.Cancel();
            ChildProcess.KillAll();
        }

        Console.CancelKeyPress += (_, e) =>
        {
            e.Cancel = true;
            Interrupt("interrupted");
        };
        using PosixSignalRegistration sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, context =>
        {
            context.Cancel = true;
            Interrupt("SIGTERM");
        });
        using PosixSignalRegistration sighup = PosixSignalRegistration.Create(PosixSignal.SIGHUP, context =>
        {
            context.Cancel = true;
            Interrupt("SIGHUP");
        });
        AppDomain.CurrentDomain.ProcessExit += (_, _) => ChildProcess.KillAll();
        AppDomain.CurrentDomain.UnhandledException += (_, _) => ChildProcess.KillAll();

        TextWriter output = Console.Out;
        try
        {
            return await RunAsync(options, output, interrupted.Token);
        }
        catch (LoadTestException ex)
        {
            Console.Error.WriteLine();
            Console.Error.WriteLine($"load test FAILED: {ex.Message}");
            return 1;
        }
        catch (OperationCanceledException) when (interrupted.IsCancellationRequested)
        {
            Console.Error.WriteLine("load test interrupted");
            return 130;
        }
        catch (Exception ex)
        {
            Console.Error.WriteLine();
            Console.Error.WriteLine($"load test FAILED (unexpected error): {ex}");
            return 1;
        }
        finally
        {
            ChildProcess.KillAll();
        }
    }

    private static async Task<int> RunAsync(LoadTestOptions options, TextWriter output, CancellationToken cancellationToken)
    {
        PeerLauncher launcher = PeerLauncher.Create(options);
        var total = Stopwatch.StartNew();
        PrintMachine(options, launcher, output);
        bool failed = false;
        bool targetsMet = true;

        if (!options.SkipThroughput)
        {
            output.WriteLine();
            output.WriteLine("== 1. Throughput ==");
            var throughput = new ThroughputTest(launcher, options, output);
            IReadOnlyList<ScenarioResult> results = await throughput.RunAsync(cancellationToken);
            targetsMet = throughput.PrintReport(results, CryptoCeiling.Measure(TimeSpan.FromSeconds(1)));
            failed |= results.Any(r => r.Error is { } e && e.StartsWith("FAILED", StringComparison.Ordinal));
        }

        MemoryReport? memory = null;
        if (!options.SkipMemory)
        {
            output.WriteLine();
            output.WriteLine("== 2. Relay memory ==");
            var test = new MemoryTest(launcher, options, output);
            try
            {
                memory = await test.RunAsync(cancellationToken);
                test.PrintReport(memory);
            }
            catch (LoadTestException ex)
            {
                output.WriteLine($"    FAILED: {ex.Message}");
                failed = true;
            }
        }

        if (!options.SkipAutoRelay)
        {
            var test = new AutoRelayTest(launcher, options, output);
            failed |= !await RunPartAsync(output, "3. Automatic relays", async () => test.PrintReport(await test.RunAsync(cancellationToken)));
        }

        if (!options.SkipFlood)
        {
            var test = new ConnectionFloodTest(launcher, options, output);
            failed |= !await RunPartAsync(output, "4. Connection flood from one address", async () => test.PrintReport(await test.RunAsync(cancellationToken)));
        }

        output.WriteLine();
        output.WriteLine($"load average at the end: {LoadAverage()}; total time {total.Elapsed.TotalSeconds:F0} s");
        if (failed)
        {
            Console.Error.WriteLine("load test FAILED: see the FAILED lines above");
            return 1;
        }

        if (!targetsMet && options.EnforceTargets)
        {
            Console.Error.WriteLine("load test: a throughput target was missed (--enforce-targets)");
            return 3;
        }

        output.WriteLine("load test done");
        return 0;
    }

    /// <summary>Prints the part's heading and runs it; a failed step is reported as a FAILED line.</summary>
    /// <returns>Whether the part ran without a failed step.</returns>
    private static async Task<bool> RunPartAsync(TextWriter output, string title, Func<Task> run)
    {
        output.WriteLine();
        output.WriteLine($"== {title} ==");
        try
        {
            await run();
            return true;
        }
        catch (LoadTestException ex)
        {
            output.WriteLine($"    FAILED: {ex.Message}");
            return false;
        }
    }

    private static void PrintMachine(LoadTestOptions options, PeerLauncher launcher, TextWriter output)
    {
        output.WriteLine("CircuitRelay load test");
        string[] args = Environment.GetCommandLineArgs()[1..];
        output.WriteLine($"  command:  dotnet run -c Release --project tests/CircuitRelay.LoadTest{(args.Length == 0 ? "" : " -- " + string.Join(' ', args))}");
        output.WriteLine($"  settings: --mib {options.Mib} --runs {options.Runs} --warmup-mib {options.WarmupBytes / (1024 * 1024)} --circuits {options.Circuits} --concurrency {options.Concurrency}{(options.SkipJs ? " --skip-js" : "")}");
        output.WriteLine($"  machine:  {CpuModel()}, {Environment.ProcessorCount} logical CPU(s), {MemoryTotal()}, {RuntimeInformation.OSDescription}");
        output.WriteLine($"  runtime:  .NET {Environment.Version} ({launcher.DotnetHost}){(launcher.JsDirectory is null ? "" : ", node " + NodeVersion())}");
        output.WriteLine($"  load average at the start: {LoadAverage()} (other processes share this machine)");
#if DEBUG
        output.WriteLine("  WARNING: Debug build; pass -c Release for figures worth comparing");
#endif
    }

    private static string CpuModel()
    {
        try
        {
            string? line = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal));
            return line is null ? RuntimeInformation.ProcessArchitecture.ToString() : line[(line.IndexOf(':', StringComparison.Ordinal) + 1)..].Trim();
        }
        catch (IOException)
        {
            return RuntimeInformation.ProcessArchitecture.ToString();
        }
    }

    private static string MemoryTotal()
    {
        try
        {
            string? line = File.ReadLines("/proc/meminfo").FirstOrDefault(l => l.StartsWith("MemTotal:", StringComparison.Ordinal));
            string[]? parts = line?.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            return parts is [_, { } kib, "kB"] && long.TryParse(kib, CultureInfo.InvariantCulture, out long value)
                ? (value / 1024.0 / 1024.0).ToString("F1", CultureInfo.InvariantCulture) + " GiB RAM"
                : "RAM unknown";
        }
        catch (IOException)
        {
            return "RAM unknown";
        }
    }

    private static string LoadAverage()
    {
        try
        {
            return string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3));
        }
        catch (IOException)
        {
            return "unknown";
        }
    }

    private static string NodeVersion()
    {
        try
        {
            using Process? node = Process.Start(new ProcessStartInfo("node", "--version") { RedirectStandardOutput = true, UseShellExecute = false });
            if (node is null)
            {
                return "unknown";
            }

            string version = node.StandardOutput.ReadToEnd().Trim();
            return node.WaitForExit(TimeSpan.FromSeconds(10)) ? version : "unknown";
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return "not found";
        }
    }
}
