using System.Diagnostics;
using Xunit.Abstractions;

namespace CircuitRelay.Interop.Tests.Harness;

/// <summary>
/// A small internet in network namespaces, with a real NAT (nftables masquerade): a core router joining three public
/// hosts on three documentation /24s (192.0.2.10, 198.51.100.10, 203.0.113.10) and a NAT router (WAN 203.0.113.34)
/// in front of one private host (10.0.0.2). No namespace has a route out of the lab or a link to the host's own
/// network; every process runs inside a lab namespace; <see cref="DisposeAsync"/> removes all of it, and a lab left by
/// a killed run (same prefix) is removed before a new one is made.
/// </summary>
/// <remarks>Needs root and <c>ip</c>; installs nftables when <c>nft</c> is missing.</remarks>
internal sealed class NatLab : IAsyncDisposable
{
    private const string Prefix = "crlab";
    private static readonly TimeSpan CommandTimeout = TimeSpan.FromSeconds(20);

    private readonly List<PeerProcess> _processes = [];
    private readonly ITestOutputHelper? _output;

    private NatLab(ITestOutputHelper? output) => _output = output;

    /// <summary>The public hosts: namespace and address, one per documentation /24.</summary>
    public static IReadOnlyList<(string Namespace, string Address)> PublicHosts { get; } =
    [
        ($"{Prefix}-s1", "192.0.2.10"),
        ($"{Prefix}-s2", "198.51.100.10"),
        ($"{Prefix}-s3", "203.0.113.10"),
    ];

    /// <summary>The NAT router's public address (its WAN).</summary>
    public const string NatPublicAddress = "203.0.113.34";

    /// <summary>The private host behind the NAT.</summary>
    public const string PrivateNamespace = $"{Prefix}-priv";

    /// <summary>The private host's address.</summary>
    public const string PrivateAddress = "10.0.0.2";

    private static string Core => $"{Prefix}-core";

    private static string Nat => $"{Prefix}-nat";

    private static IEnumerable<string> AllNamespaces => [Core, Nat, PrivateNamespace, .. PublicHosts.Select(h => h.Namespace)];

    /// <summary>Builds the lab (removing a stale one first); on any failure removes what it made and throws.</summary>
    public static async Task<NatLab> CreateAsync(ITestOutputHelper? output)
    {
        if (Environment.UserName != "root" && !string.Equals(Environment.GetEnvironmentVariable("USER"), "root", StringComparison.Ordinal))
        {
            throw new InvalidOperationException("The NAT lab needs root (network namespaces and nftables); run the suite as root.");
        }

        await EnsureNftablesAsync();
        var lab = new NatLab(output);
        await RemoveAllAsync();
        try
        {
            foreach (string ns in AllNamespaces)
            {
                await RunAsync("ip", "netns", "add", ns);
                await RunAsync("ip", "-n", ns, "link", "set", "lo", "up");
            }

            await RunAsync("ip", "netns", "exec", Core, "sysctl", "-qw", "net.ipv4.ip_forward=1");
            int link = 0;
            foreach ((string ns, string address) in PublicHosts)
            {
                string gateway = address[..address.LastIndexOf('.')] + ".1";
                await LinkAsync(Core, $"c{link}", gateway + "/28", ns, "eth0", address + "/28");
                await RunAsync("ip", "-n", ns, "route", "add", "default", "via", gateway);
                link++;
            }

            // The NAT's WAN on a small subnet of its own in 203.0.113.0/24; its LAN 10.0.0.0/24.
            await LinkAsync(Core, "cnat", "203.0.113.33/28", Nat, "wan", NatPublicAddress + "/28");
            await RunAsync("ip", "-n", Nat, "route", "add", "default", "via", "203.0.113.33");
            await LinkAsync(Nat, "lan", "10.0.0.1/24", PrivateNamespace, "eth0", PrivateAddress + "/24");
            await RunAsync("ip", "-n", PrivateNamespace, "route", "add", "default", "via", "10.0.0.1");
            await RunAsync("ip", "netns", "exec", Nat, "sysctl", "-qw", "net.ipv4.ip_forward=1");

            // Masquerade out of the WAN; from the WAN only replies get in (no port is forwarded).
            string rules = Path.Combine(Path.GetTempPath(), $"{Prefix}-{Environment.ProcessId}.nft");
            await File.WriteAllTextAsync(rules, """
                table ip crlab_nat {
                  chain postrouting { type nat hook postrouting priority 100; oifname "wan" masquerade; }
                }
                table inet crlab_filter {
                  chain forward {
                    type filter hook forward priority 0; policy drop;
                    ct state established,related accept
                    iifname "lan" oifname "wan" accept
                  }
                }
                """);
            try
            {
                await RunAsync("ip", "netns", "exec", Nat, "nft", "-f", rules);
            }
            finally
            {
                File.Delete(rules);
            }

            return lab;
        }
        catch
        {
            await lab.DisposeAsync();
            throw;
        }
    }

    /// <summary>Starts the .NET node CLI inside <paramref name="ns"/> (with <c>--exit-on-stdin-close</c>); the lab stops it on disposal.</summary>
    public PeerProcess StartNode(string ns, string name, params string[] arguments)
    {
        InteropPaths.EnsureNodeBuilt();
        PeerProcess process = PeerProcess.Start(
            name,
            "ip",
            ["netns", "exec", ns, InteropPaths.DotnetHost, InteropPaths.NodeDll, .. arguments, "--exit-on-stdin-close"],
            AppContext.BaseDirectory,
            _output,
            new Dictionary<string, string> { ["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1", ["DOTNET_NOLOGO"] = "1" });
        _processes.Add(process);
        return process;
    }

    /// <summary>Stops every lab process, then deletes every lab namespace (their links and rules go with them).</summary>
    public async ValueTask DisposeAsync()
    {
        for (int i = _processes.Count - 1; i >= 0; i--)
        {
            await _processes[i].DisposeAsync();
        }

        await RemoveAllAsync();
    }

    /// <summary>Installs nftables from the Debian registry when <c>nft</c> is missing (the test command does its own set-up, as it does npm's).</summary>
    private static async Task EnsureNftablesAsync()
    {
        if ((await TryRunAsync("sh", "-c", "command -v nft")).Code == 0)
        {
            return;
        }

        (int code, string text) = await TryRunAsync("sh", ["-c", "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nftables"], TimeSpan.FromMinutes(5));
        if (code != 0)
        {
            throw new InvalidOperationException($"The NAT lab needs nftables and installing it failed ({code}): {text.Trim()}");
        }
    }

    private static async Task RemoveAllAsync()
    {
        (int _, string listing) = await TryRunAsync("ip", "netns", "list");
        foreach (string line in listing.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            string ns = line.Split(' ')[0];
            if (ns.StartsWith(Prefix + "-", StringComparison.Ordinal))
            {
                // Deleting a namespace removes its veth ends (and so the peers' ends) and its nftables rules.
                await TryRunAsync("ip", "netns", "del", ns);
            }
        }
    }

    private static async Task LinkAsync(string leftNs, string leftName, string leftAddress, string rightNs, string rightName, string rightAddress)
    {
        await RunAsync("ip", "-n", leftNs, "link", "add", leftName, "type", "veth", "peer", "name", rightName, "netns", rightNs);
        await RunAsync("ip", "-n", leftNs, "addr", "add", leftAddress, "dev", leftName);
        await RunAsync("ip", "-n", rightNs, "addr", "add", rightAddress, "dev", rightName);
        await RunAsync("ip", "-n", leftNs, "link", "set", leftName, "up");
        await RunAsync("ip", "-n", rightNs, "link", "set", rightName, "up");
    }

    private static async Task RunAsync(string file, params string[] arguments)
    {
        (int code, string output) = await TryRunAsync(file, arguments);
        if (code != 0)
        {
            throw new InvalidOperationException($"'{file} {string.Join(' ', arguments)}' exited with {code}: {output.Trim()}");
        }
    }

    private static Task<(int Code, string Output)> TryRunAsync(string file, params string[] arguments) => TryRunAsync(file, arguments, CommandTimeout);

    private static async Task<(int Code, string Output)> TryRunAsync(string file, string[] arguments, TimeSpan bound)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using Process process = Process.Start(start) ?? throw new InvalidOperationException($"Cannot start {file}.");
        Task<string> stdout = process.StandardOutput.ReadToEndAsync();
        Task<string> stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(bound);
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, await stdout + await stderr);
    }
}
