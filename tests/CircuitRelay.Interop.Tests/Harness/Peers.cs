using System.Globalization;
using Xunit.Abstractions;

namespace CircuitRelay.Interop.Tests.Harness;

/// <summary>Which implementation plays a role.</summary>
public enum Impl
{
    /// <summary>The .NET sample node, samples/CircuitRelay.Node.</summary>
    Dotnet,

    /// <summary>The js-libp2p CLI peer, tests/interop/js/peer.mjs.</summary>
    Js,
}

/// <summary>A running relay and the address clients use for it (ending in <c>/p2p/&lt;id&gt;</c>).</summary>
internal sealed record RelayPeer(PeerProcess Process, string Address, string PeerId) : IAsyncDisposable
{
    /// <summary>Stops the relay process.</summary>
    public ValueTask DisposeAsync() => Process.DisposeAsync();
}

/// <summary>A running listener and the address dialers use for it.</summary>
internal sealed record ListenerPeer(PeerProcess Process, string Address, string PeerId) : IAsyncDisposable
{
    /// <summary>Stops the listener process.</summary>
    public ValueTask DisposeAsync() => Process.DisposeAsync();
}

/// <summary>Starts the two CLIs in their roles, with the same command-line contract on both sides.</summary>
internal static class Peers
{
    /// <summary>The loopback TCP listen address with a port picked by the OS.</summary>
    public const string LoopbackAnyPort = "/ip4/127.0.0.1/tcp/0";

    /// <summary>
    /// Starts one CLI with <paramref name="arguments"/>. The .NET node gets <c>--exit-on-stdin-close</c>, so it stops
    /// with the test run's stdin pipe (the js peer does so by default).
    /// </summary>
    public static PeerProcess Start(Impl impl, string name, ITestOutputHelper? output, params string[] arguments)
        => StartProcess(impl, name, output, stdinAtEnd: false, [.. arguments, .. impl == Impl.Dotnet ? ExitOnStdinClose : []]);

    /// <summary>Starts the .NET node as a daemon is started: stdin at its end at once, no <c>--exit-on-stdin-close</c>.</summary>
    public static PeerProcess StartDaemon(string name, ITestOutputHelper? output, params string[] arguments)
        => StartProcess(Impl.Dotnet, name, output, stdinAtEnd: true, arguments);

    private static readonly string[] ExitOnStdinClose = ["--exit-on-stdin-close"];

    private static PeerProcess StartProcess(Impl impl, string name, ITestOutputHelper? output, bool stdinAtEnd, string[] arguments)
    {
        if (impl == Impl.Js)
        {
            InteropPaths.EnsureJsPeerInstalled();
            string[] node = ["--import", "./polyfill.mjs", "peer.mjs"];
            return PeerProcess.Start(name, "node", [.. node, .. arguments], InteropPaths.JsDirectory, output);
        }

        InteropPaths.EnsureNodeBuilt();
        return PeerProcess.Start(
            name,
            InteropPaths.DotnetHost,
            [InteropPaths.NodeDll, .. arguments],
            AppContext.BaseDirectory,
            output,
            new Dictionary<string, string> { ["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1", ["DOTNET_NOLOGO"] = "1" },
            stdinAtEnd);
    }

    /// <summary>
    /// Starts a relay on a free loopback port. <paramref name="dataLimit"/> null means no limit at all
    /// (js <c>--no-limit</c>, .NET 0/0); otherwise the js duration keeps its default and .NET has none.
    /// With <paramref name="via"/> the relay also reserves on that other relay and is awaited until reachable there.
    /// </summary>
    public static async Task<RelayPeer> StartRelayAsync(Impl impl, ITestOutputHelper? output, long? dataLimit = null, string? via = null)
    {
        var args = new List<string> { "relay" };
        if (impl == Impl.Js)
        {
            args.AddRange(["--port", "0"]);
            if (dataLimit is { } js)
            {
                args.AddRange(["--data-limit", js.ToString(CultureInfo.InvariantCulture)]);
            }
            else
            {
                args.Add("--no-limit");
            }

            if (via is not null)
            {
                args.AddRange(["--via", via]);
            }
        }
        else
        {
            args.AddRange([
                "--listen", LoopbackAnyPort,
                "--circuit-duration-limit", "0",
                "--circuit-data-limit", (dataLimit ?? 0).ToString(CultureInfo.InvariantCulture)]);
            if (via is not null)
            {
                args.AddRange(["--relay", via]);
            }
        }

        var name = $"{Label(impl)} relay{(via is null ? string.Empty : " (via)")}";
        var process = Start(impl, name, output, [.. args]);
        try
        {
            var peerId = await process.WaitForLineAsync("peer");
            var address = await process.WaitForLineAsync("listening");
            if (via is not null)
            {
                await process.WaitForLineAsync("reachable");
            }

            await process.WaitForLineAsync("ready");
            return new RelayPeer(process, address, peerId);
        }
        catch
        {
            await process.DisposeAsync();
            throw;
        }
    }

    /// <summary>Starts a listener that reserves on <paramref name="relayAddress"/> and waits until it is reachable there.</summary>
    public static async Task<ListenerPeer> StartRelayedListenerAsync(Impl impl, string relayAddress, ITestOutputHelper? output)
    {
        var process = Start(impl, $"{Label(impl)} listener", output, "listen", "--relay", relayAddress);
        try
        {
            var peerId = await process.WaitForLineAsync("peer");
            var reachable = await process.WaitForLineAsync("reachable");
            return new ListenerPeer(process, reachable, peerId);
        }
        catch
        {
            await process.DisposeAsync();
            throw;
        }
    }

    /// <summary>Starts a listener on a free loopback port, with no relay.</summary>
    public static async Task<ListenerPeer> StartDirectListenerAsync(Impl impl, ITestOutputHelper? output)
    {
        var process = impl == Impl.Js
            ? Start(impl, "js listener", output, "listen-direct", "--port", "0")
            : Start(impl, ".NET listener", output, "listen", "--listen", LoopbackAnyPort);
        return await ReadyAsync(process);
    }

    /// <summary>Waits for a started server's <c>peer</c>, <c>listening</c> and <c>ready</c> lines (stopping it when they do not come).</summary>
    public static async Task<ListenerPeer> ReadyAsync(PeerProcess process)
    {
        try
        {
            var peerId = await process.WaitForLineAsync("peer");
            var address = await process.WaitForLineAsync("listening");
            await process.WaitForLineAsync("ready");
            return new ListenerPeer(process, address, peerId);
        }
        catch
        {
            await process.DisposeAsync();
            throw;
        }
    }

    /// <summary>Runs a client subcommand (<c>dial</c>, <c>ping</c>, <c>reserve</c>) to completion.</summary>
    public static async Task<ClientRun> RunClientAsync(Impl impl, ITestOutputHelper? output, params string[] arguments)
    {
        await using var process = Start(impl, $"{Label(impl)} {arguments[0]}", output, arguments);
        var exitCode = await process.WaitForExitAsync();
        return new ClientRun(exitCode, process.Lines, process.Describe());
    }

    /// <summary>Runs <c>dial &lt;address&gt; --bytes &lt;bytes&gt;</c>: an echo round trip checked byte for byte by the dialer.</summary>
    public static Task<ClientRun> DialAsync(Impl impl, string address, int bytes, ITestOutputHelper? output) =>
        RunClientAsync(impl, output, "dial", address, "--bytes", bytes.ToString(CultureInfo.InvariantCulture));

    /// <summary>"js" or ".NET".</summary>
    public static string Label(Impl impl) => impl == Impl.Js ? "js" : ".NET";
}

/// <summary>The outcome of a client run: exit code, stdout lines, and a description for assertion messages.</summary>
internal sealed record ClientRun(int ExitCode, IReadOnlyList<string> Lines, string Description)
{
    /// <summary>The rest of the first line starting with <paramref name="prefix"/> and a space, or null.</summary>
    public string? Line(string prefix) =>
        Lines.FirstOrDefault(l => l.StartsWith(prefix + " ", StringComparison.Ordinal)) is { } line
            ? line[(prefix.Length + 1)..]
            : null;

    /// <summary>Asserts exit code 0 and a <paramref name="prefix"/> line; returns the rest of that line.</summary>
    public string ShouldSucceedWith(string prefix)
    {
        ExitCode.Should().Be(0, "the client should succeed:{0}{1}", Environment.NewLine, Description);
        var rest = Line(prefix);
        rest.Should().NotBeNull("the client should print '{0} …':{1}{2}", prefix, Environment.NewLine, Description);
        return rest!;
    }

    /// <summary>Asserts exit code 1, an <c>error</c> line and no echo result; returns the rest of the error line.</summary>
    public string ShouldFail()
    {
        ExitCode.Should().Be(1, "the client should fail:{0}{1}", Environment.NewLine, Description);
        Line("echo ok").Should().BeNull("a failed client prints no echo result:{0}{1}", Environment.NewLine, Description);
        var error = Line("error");
        error.Should().NotBeNull("a failed client prints 'error <reason>':{0}{1}", Environment.NewLine, Description);
        return error!;
    }
}
