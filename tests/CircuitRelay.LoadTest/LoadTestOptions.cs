using System.Globalization;

namespace CircuitRelay.LoadTest;

/// <summary>The command line of the load test.</summary>
internal sealed class LoadTestOptions
{
    public const string Usage = """
        usage: dotnet run -c Release --project tests/CircuitRelay.LoadTest -- [options]

          --mib <n>            MiB echoed each way per throughput run (default 64)
          --runs <n>           rounds; each round runs every scenario once, in turn; medians are reported (default 3)
          --warmup-mib <n>     MiB each dialer echoes untimed before its timed run, on the same connection
                               (default: as --mib; 0 = none)
          --circuits <n>       idle circuits opened through the .NET relay for the memory test (default 1000)
          --concurrency <n>    circuits being opened at once in the memory test (default 32)
          --skip-js            skip the scenarios that need the js-libp2p peer (c, d)
          --skip-pinned        skip a' and b' (a and b with the ends pinned to CPU 0 and the relay to CPU 1)
          --skip-throughput    skip part 1 (throughput)
          --skip-memory        skip part 2 (relay memory)
          --skip-autorelay     skip part 3 (automatic relays: time to reachable, after kill -9, after kill -STOP)
          --skip-flood         skip part 4 (3,000 connections from one address; memory per idle connection)
          --enforce-targets    exit with code 3 when a throughput target (b >= 0.5 a, b >= 10 d) is missed
          --js-dir <path>      the js peer's folder (default: tests/interop/js of this repository)
          --step-timeout <s>   timeout of each step: a process start, a dial, opening all circuits (default 300)
          --help               this text
        """;

    public int Mib { get; private set; } = 64;

    public int Runs { get; private set; } = 3;

    /// <summary>The dialer's untimed warm-up echo in MiB; <see langword="null"/> means the same as <see cref="Mib"/>.</summary>
    public int? WarmupMib { get; private set; }

    public long WarmupBytes => (WarmupMib ?? Mib) * 1024L * 1024L;

    public int Circuits { get; private set; } = 1000;

    public int Concurrency { get; private set; } = 32;

    public bool SkipJs { get; private set; }

    public bool SkipThroughput { get; private set; }

    public bool SkipPinned { get; private set; }

    public bool SkipMemory { get; private set; }

    public bool SkipAutoRelay { get; private set; }

    public bool SkipFlood { get; private set; }

    public bool EnforceTargets { get; private set; }

    public string? JsDirectory { get; private set; }

    public TimeSpan StepTimeout { get; private set; } = TimeSpan.FromSeconds(300);

    public bool Help { get; private set; }

    public long Bytes => Mib * 1024L * 1024L;

    /// <summary>Parses the arguments.</summary>
    /// <exception cref="FormatException">An unknown option or a bad value.</exception>
    public static LoadTestOptions Parse(IReadOnlyList<string> args)
    {
        var options = new LoadTestOptions();
        for (int i = 0; i < args.Count; i++)
        {
            string arg = args[i];
            switch (arg)
            {
                case "--mib":
                    options.Mib = Positive(args, ref i, max: 1024);
                    break;
                case "--runs":
                    options.Runs = Positive(args, ref i, max: 100);
                    break;
                case "--warmup-mib":
                    options.WarmupMib = NonNegative(args, ref i, max: 1024);
                    break;
                case "--circuits":
                    options.Circuits = Positive(args, ref i, max: 100_000);
                    break;
                case "--concurrency":
                    options.Concurrency = Positive(args, ref i, max: 1024);
                    break;
                case "--step-timeout":
                    options.StepTimeout = TimeSpan.FromSeconds(Positive(args, ref i, max: 86_400));
                    break;
                case "--js-dir":
                    options.JsDirectory = Value(args, ref i);
                    break;
                case "--skip-js":
                    options.SkipJs = true;
                    break;
                case "--skip-pinned":
                    options.SkipPinned = true;
                    break;
                case "--skip-throughput":
                    options.SkipThroughput = true;
                    break;
                case "--skip-memory":
                    options.SkipMemory = true;
                    break;
                case "--skip-autorelay":
                    options.SkipAutoRelay = true;
                    break;
                case "--skip-flood":
                    options.SkipFlood = true;
                    break;
                case "--enforce-targets":
                    options.EnforceTargets = true;
                    break;
                case "--help" or "-h" or "-?":
                    options.Help = true;
                    break;
                default:
                    throw new FormatException($"unknown argument '{arg}'");
            }
        }

        return options;
    }

    private static string Value(IReadOnlyList<string> args, ref int i)
    {
        if (i + 1 >= args.Count)
        {
            throw new FormatException($"{args[i]} needs a value");
        }

        return args[++i];
    }

    private static int NonNegative(IReadOnlyList<string> args, ref int i, int max)
    {
        string name = args[i];
        string text = Value(args, ref i);
        if (!int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int value) || value > max)
        {
            throw new FormatException($"{name} must be an integer from 0 to {max}, got '{text}'");
        }

        return value;
    }

    private static int Positive(IReadOnlyList<string> args, ref int i, int max)
    {
        string name = args[i];
        string text = Value(args, ref i);
        if (!int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int value) || value < 1 || value > max)
        {
            throw new FormatException($"{name} must be an integer from 1 to {max}, got '{text}'");
        }

        return value;
    }
}
