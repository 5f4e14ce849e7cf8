using System.Runtime.InteropServices;

namespace CircuitRelay.LoadTest;

/// <summary>A server peer that is up: its process and the address it printed.</summary>
internal sealed record RunningPeer(ChildProcess Process, string Address);

/// <summary>
/// Starts the peers as child processes: the .NET node CLI (<c>CircuitRelay.Node.dll</c>, copied next to this
/// app by the project reference) and the js-libp2p peer (<c>tests/interop/js/peer.mjs</c>). Every server is
/// started with stdin redirected, so it stops when we close stdin or die.
/// </summary>
internal sealed class PeerLauncher
{
    private const string Loopback = "/ip4/127.0.0.1/tcp/0";

    private readonly string _dotnet;
    private readonly string _nodeDll;
    private readonly string? _jsDirectory;
    private readonly TimeSpan _stepTimeout;
    private readonly string? _taskset;
    private readonly int? _cpu;

    private PeerLauncher(string dotnet, string nodeDll, string? jsDirectory, TimeSpan stepTimeout, string? taskset, int? cpu)
    {
        _dotnet = dotnet;
        _nodeDll = nodeDll;
        _jsDirectory = jsDirectory;
        _stepTimeout = stepTimeout;
        _taskset = taskset;
        _cpu = cpu;
    }

    /// <summary>Whether <see cref="OnCpu"/> can pin processes: <c>taskset</c> is installed and there are at least 2 CPUs.</summary>
    public bool CanPin => _taskset is not null && Environment.ProcessorCount >= 2;

    /// <summary>A launcher whose processes run only on CPU <paramref name="cpu"/> (<c>taskset -c</c>, inherited by every thread).</summary>
    /// <exception cref="InvalidOperationException"><see cref="CanPin"/> is false.</exception>
    public PeerLauncher OnCpu(int cpu)
    {
        if (!CanPin)
        {
            throw new InvalidOperationException("Pinning needs taskset and at least 2 CPUs.");
        }

        return new PeerLauncher(_dotnet, _nodeDll, _jsDirectory, _stepTimeout, _taskset, cpu);
    }

    /// <summary>The <c>dotnet</c> host that runs the .NET peers.</summary>
    public string DotnetHost => _dotnet;

    /// <summary>Where the js peer lives, or <see langword="null"/> with <c>--skip-js</c>.</summary>
    public string? JsDirectory => _jsDirectory;

    /// <summary>Finds the node CLI, the dotnet host and (unless skipped) the js peer.</summary>
    /// <exception cref="LoadTestException">Something is missing; the message says how to fix it.</exception>
    public static PeerLauncher Create(LoadTestOptions options)
    {
        string nodeDll = Path.Combine(AppContext.BaseDirectory, "CircuitRelay.Node.dll");
        string runtimeConfig = Path.ChangeExtension(nodeDll, ".runtimeconfig.json");
        if (!File.Exists(nodeDll) || !File.Exists(runtimeConfig))
        {
            throw new LoadTestException($"The node CLI is not next to the load test ({nodeDll} and its runtimeconfig.json). Build tests/CircuitRelay.LoadTest, which references samples/CircuitRelay.Node.");
        }

        string? js = null;
        if (!options.SkipJs && !options.SkipThroughput)
        {
            js = options.JsDirectory ?? FindJsPeer()
                ?? throw new LoadTestException("Cannot find tests/interop/js/peer.mjs above " + AppContext.BaseDirectory + "; pass --js-dir <path> or --skip-js.");
            js = Path.GetFullPath(js);
            if (!File.Exists(Path.Combine(js, "peer.mjs")))
            {
                throw new LoadTestException($"No peer.mjs in {js}; pass --js-dir <path> or --skip-js.");
            }

            if (!Directory.Exists(Path.Combine(js, "node_modules")))
            {
                throw new LoadTestException($"{js}/node_modules is missing: run `npm ci` in {js} first, or pass --skip-js.");
            }
        }

        return new PeerLauncher(FindDotnetHost(), nodeDll, js, options.StepTimeout, FindOnPath("taskset"), cpu: null);
    }

    /// <summary>Starts a .NET node CLI subcommand.</summary>
    public ChildProcess StartDotnet(string name, params string[] arguments)
        => Start(name, _dotnet, [_nodeDll, .. arguments, "--exit-on-stdin-close"]);

    /// <summary>Starts a js peer subcommand (<c>node --import ./polyfill.mjs peer.mjs …</c>).</summary>
    public ChildProcess StartJs(string name, params string[] arguments)
    {
        string directory = _jsDirectory ?? throw new InvalidOperationException("The js peer was skipped.");
        return Start(name, "node", ["--import", "./polyfill.mjs", "peer.mjs", .. arguments], directory);
    }

    // taskset execs the program, so the child's pid is the program's own.
    private ChildProcess Start(string name, string program, string[] arguments, string? workingDirectory = null)
        => _cpu is { } cpu
            ? ChildProcess.Start($"{name} (CPU {cpu})", _taskset!, ["-c", cpu.ToString(System.Globalization.CultureInfo.InvariantCulture), program, .. arguments], workingDirectory)
            : ChildProcess.Start(name, program, arguments, workingDirectory);

    private static string? FindOnPath(string program)
    {
        foreach (string directory in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
        {
            string candidate = Path.Combine(directory, program);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        return null;
    }

    /// <summary>Starts this load test in its relay-host mode (see <see cref="RelayHostMode"/>).</summary>
    public ChildProcess StartSelf(string name, params string[] arguments)
    {
        string self = Path.Combine(AppContext.BaseDirectory, "CircuitRelay.LoadTest.dll");
        return ChildProcess.Start(name, _dotnet, [self, .. arguments]);
    }

    /// <summary>
    /// Starts a .NET relay with no circuit limit (<c>relay --circuit-data-limit 0 --circuit-duration-limit 0</c>
    /// plus <paramref name="extra"/>) and waits for <c>listening</c> and <c>ready</c>.
    /// </summary>
    public async Task<RunningPeer> StartDotnetRelayAsync(string name, string[] extra, CancellationToken cancellationToken)
    {
        ChildProcess process = StartDotnet(name, ["relay", "--listen", Loopback, "--circuit-data-limit", "0", "--circuit-duration-limit", "0", .. extra]);
        return await WaitForServerAsync(process, "listening ", cancellationToken);
    }

    /// <summary>Starts a .NET peer listening directly on loopback TCP (<c>listen --listen …</c>).</summary>
    public async Task<RunningPeer> StartDotnetDirectListenerAsync(string name, CancellationToken cancellationToken)
    {
        ChildProcess process = StartDotnet(name, "listen", "--listen", Loopback);
        return await WaitForServerAsync(process, "listening ", cancellationToken);
    }

    /// <summary>Starts a .NET peer that reserves on <paramref name="relay"/> (<c>listen --relay …</c>); the address is its circuit address.</summary>
    public async Task<RunningPeer> StartDotnetRelayedListenerAsync(string name, string relay, CancellationToken cancellationToken)
    {
        ChildProcess process = StartDotnet(name, "listen", "--relay", relay);
        return await WaitForServerAsync(process, "reachable ", cancellationToken);
    }

    /// <summary>Starts a js relay without limits (<c>relay --port 0 --no-limit</c>).</summary>
    public async Task<RunningPeer> StartJsRelayAsync(string name, CancellationToken cancellationToken)
    {
        ChildProcess process = StartJs(name, "relay", "--port", "0", "--no-limit", "--lifetime", "0");
        return await WaitForServerAsync(process, "listening ", cancellationToken);
    }

    /// <summary>Starts a js peer that reserves on <paramref name="relay"/>; the address is its circuit address.</summary>
    public async Task<RunningPeer> StartJsRelayedListenerAsync(string name, string relay, CancellationToken cancellationToken)
    {
        ChildProcess process = StartJs(name, "listen", "--relay", relay, "--lifetime", "0");
        return await WaitForServerAsync(process, "reachable ", cancellationToken);
    }

    private async Task<RunningPeer> WaitForServerAsync(ChildProcess process, string addressPrefix, CancellationToken cancellationToken)
    {
        try
        {
            string address = (await process.WaitForLineAsync(addressPrefix, _stepTimeout, cancellationToken)).Trim();
            if (!Multiaddr.TryParse(address, out _))
            {
                throw new LoadTestException($"{process.Name} printed an address that does not parse: '{address}'");
            }

            // .NET servers print `ready` after their addresses; js `listen` prints `reachable` last.
            if (addressPrefix == "listening ")
            {
                await process.WaitForLineAsync("ready", _stepTimeout, cancellationToken);
            }

            return new RunningPeer(process, address);
        }
        catch
        {
            await process.DisposeAsync();
            throw;
        }
    }

    private static string? FindJsPeer()
    {
        for (DirectoryInfo? directory = new(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            string candidate = Path.Combine(directory.FullName, "tests", "interop", "js");
            if (File.Exists(Path.Combine(candidate, "peer.mjs")))
            {
                return candidate;
            }
        }

        return null;
    }

    /// <summary>The dotnet host running us, else the one of this runtime's install, else <c>dotnet</c> on PATH.</summary>
    private static string FindDotnetHost()
    {
        string exe = OperatingSystem.IsWindows() ? "dotnet.exe" : "dotnet";
        if (Environment.ProcessPath is { } self && string.Equals(Path.GetFileName(self), exe, StringComparison.OrdinalIgnoreCase))
        {
            return self;
        }

        if (Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } hostPath && File.Exists(hostPath))
        {
            return hostPath;
        }

        // <root>/shared/Microsoft.NETCore.App/<version>/
        DirectoryInfo? root = new DirectoryInfo(RuntimeEnvironment.GetRuntimeDirectory()).Parent?.Parent?.Parent;
        if (root is not null && File.Exists(Path.Combine(root.FullName, exe)))
        {
            return Path.Combine(root.FullName, exe);
        }

        return exe;
    }
}
