using CircuitRelay.Interop.Tests.Harness;
using Xunit.Abstractions;

namespace CircuitRelay.Interop.Tests;

/// <summary>
/// Automatic relays with real processes over loopback TCP: .NET relays (<c>node --relay-service on</c>) and a js-libp2p
/// relay as candidates of a private <c>node</c> that is given nothing but <c>--relay-candidate</c> addresses.
/// </summary>
[Collection(InteropCollection.Name)]
public sealed class AutoRelayProcessTests(ITestOutputHelper output) : IAsyncLifetime
{
    private const int EchoBytes = 64 * 1024;
    private readonly List<IAsyncDisposable> _owned = [];

    [Fact]
    public async Task PrivateNode_ThreeDotnetRelaysAndAJsRelay_IsReachableAndAgainThroughAnotherAfterItsRelayIsKilled()
    {
        List<RelayProcess> relays = [await DotnetRelayAsync(), await DotnetRelayAsync(), await DotnetRelayAsync(), await JsRelayAsync()];
        PeerProcess node = Own(Peers.Start(
            Impl.Dotnet,
            "private node",
            output,
            ["node", "--max-relays", "1", "--rng-seed", "7", .. relays.SelectMany(r => new[] { "--relay-candidate", r.Candidate })]));
        string nodeId = await node.WaitForLineAsync("peer");

        string first = await node.WaitForLineAsync("reachable");
        (await Peers.DialAsync(Impl.Dotnet, first, EchoBytes, output)).ShouldSucceedWith("echo ok").Should().StartWith($"{EchoBytes} bytes ");
        RelayProcess holder = relays.Single(r => first.Contains($"/p2p/{r.PeerId}/p2p-circuit/p2p/{nodeId}", StringComparison.Ordinal));

        holder.Process.Signal(PosixSignalNumber.Kill);

        (await node.WaitForLineAsync("unreachable")).Should().Be(first);
        string second = await node.WaitForLineAsync("reachable", rest => rest != first);
        second.Should().NotContain(holder.PeerId);
        (await Peers.DialAsync(Impl.Dotnet, second, EchoBytes, output)).ShouldSucceedWith("echo ok").Should().StartWith($"{EchoBytes} bytes ");
    }

    [Fact]
    public async Task PrivateNode_JsRelayGivenWithoutPeerId_IsProbedIdentifiedAndReservedOn()
    {
        RelayProcess js = await JsRelayAsync();
        js.Candidate.Should().NotContain("/p2p/", "the node is given the bare address and must learn the id");
        PeerProcess node = Own(Peers.Start(Impl.Dotnet, "private node", output, "node", "--relay-candidate", js.Candidate));

        string reachable = await node.WaitForLineAsync("reachable");

        reachable.Should().Contain($"/p2p/{js.PeerId}/p2p-circuit/p2p/");
        (await Peers.DialAsync(Impl.Js, reachable, EchoBytes, output)).ShouldSucceedWith("echo ok").Should().StartWith($"{EchoBytes} bytes ");
    }

    [Fact]
    public async Task PrivateNode_HoldingRelayFrozen_IsNoticedByLivenessAndReachableThroughAnother()
    {
        List<RelayProcess> relays = [await DotnetRelayAsync(), await DotnetRelayAsync()];
        PeerProcess node = Own(Peers.Start(
            Impl.Dotnet,
            "private node",
            output,
            ["node", "--max-relays", "1", "--relay-liveness-interval", "1", "--relay-liveness-timeout", "1", .. relays.SelectMany(r => new[] { "--relay-candidate", r.Candidate })]));
        string first = await node.WaitForLineAsync("reachable");
        RelayProcess holder = relays.Single(r => first.Contains($"/p2p/{r.PeerId}/p2p-circuit", StringComparison.Ordinal));

        holder.Process.Signal(PosixSignalNumber.Stop);
        try
        {
            (await node.WaitForLineAsync("unreachable")).Should().Be(first);
            string second = await node.WaitForLineAsync("reachable", rest => rest != first);

            second.Should().NotContain(holder.PeerId);
            (await Peers.DialAsync(Impl.Dotnet, second, EchoBytes, output)).ShouldSucceedWith("echo ok");
        }
        finally
        {
            holder.Process.Signal(PosixSignalNumber.Continue);
        }
    }

    [Fact]
    public async Task Listen_RelayKilledAndRestartedOnItsAddressAndIdentity_IsReachableAgainWithinItsBackoff()
    {
        string identity = Path.Combine(Path.GetTempPath(), $"circuitrelay-relay-{Guid.NewGuid():N}.key");
        string listen = $"/ip4/127.0.0.1/tcp/{FreePort()}";
        try
        {
            PeerProcess relay = Own(Peers.Start(Impl.Dotnet, ".NET relay", output, "relay", "--identity", identity, "--listen", listen));
            string address = await relay.WaitForLineAsync("listening");
            PeerProcess listener = Own(Peers.Start(Impl.Dotnet, ".NET listener", output, "listen", "--relay", address));
            string reachable = await listener.WaitForLineAsync("reachable");

            relay.Signal(PosixSignalNumber.Kill);
            (await listener.WaitForLineAsync("unreachable")).Should().Be(reachable);
            PeerProcess restarted = Own(Peers.Start(Impl.Dotnet, ".NET relay (restarted)", output, "relay", "--identity", identity, "--listen", listen));
            (await restarted.WaitForLineAsync("listening")).Should().Be(address, "same address and identity");

            // The retry follows the backoff (1 s, doubling), not a 30 s cycle: 15 s is a generous bound for it.
            int seen = 0;
            string again = await listener.WaitForLineAsync("reachable", _ => ++seen == 2, TimeSpan.FromSeconds(15));
            again.Should().Be(reachable);
            (await Peers.DialAsync(Impl.Dotnet, again, EchoBytes, output)).ShouldSucceedWith("echo ok");
        }
        finally
        {
            File.Delete(identity);
        }
    }

    [Fact]
    public async Task Node_AutoNatFindsItPublic_ItStartsServingAsARelayAndReleasesItsReservation()
    {
        RelayProcess relay = await DotnetRelayAsync("--autonat-allow-private");
        PeerProcess node = Own(Peers.Start(
            Impl.Dotnet,
            "node (role auto)",
            output,
            "node", "--listen", Peers.LoopbackAnyPort, "--relay-candidate", relay.Candidate,
            "--autonat-confidence", "1", "--autonat-boot-delay", "0", "--autonat-retry", "1"));
        (await node.WaitForLineAsync("role")).Should().Be("unknown");
        string reachable = await node.WaitForLineAsync("reachable");

        (await node.WaitForLineAsync("role", rest => rest == "public")).Should().Be("public", "the relay's AutoNAT server dialed it back on loopback");
        await node.WaitForLineAsync("relay-service", rest => rest == "on");
        (await node.WaitForLineAsync("unreachable")).Should().Be(reachable, "a public node releases its automatic reservations");
        string address = node.Lines.First(l => l.StartsWith("listening ", StringComparison.Ordinal))["listening ".Length..];
        (await Peers.RunClientAsync(Impl.Dotnet, output, "reserve", address)).ShouldSucceedWith("reserved");
    }

    [Theory]
    [InlineData("node", "--relay-service", "on")]
    [InlineData("relay")]
    public async Task Server_StdinAtEndOfFile_KeepsServing(params string[] command)
    {
        PeerProcess relay = Own(Peers.StartDaemon($".NET {command[0]} (stdin at EOF)", output, [.. command, "--listen", Peers.LoopbackAnyPort]));
        await relay.WaitForLineAsync("ready");
        string address = await relay.WaitForLineAsync("listening");

        ClientRun reserve = await Peers.RunClientAsync(Impl.Dotnet, output, "reserve", address);

        reserve.ShouldSucceedWith("reserved");
        relay.HasExited.Should().BeFalse("a server runs until SIGINT or SIGTERM whatever its stdin is:{0}{1}", Environment.NewLine, relay.Describe());
    }

    [Theory]
    [InlineData("--max-relays", "-1", "--max-relays")]
    [InlineData("--relay-candidate", "/ip4/127.0.0.1/tcp/1/p2p/12D3KooWAXSpbnqZ6oXdmmmPwn4YCPzusWiHwQEAxNvvwS8WtaDn/p2p-circuit", "--relay-candidate")]
    [InlineData("--advertise-ttl", "0", "--advertise-ttl")]
    [InlineData("--reservation", "/ip4/127.0.0.1/tcp/4001", "--reservation")]
    [InlineData("--external-address", "not-a-multiaddr", "--external-address")]
    public async Task Node_BadConfiguration_PrintsOneErrorLineNamingTheOptionAndExitsTwo(string option, string value, string named)
    {
        await using PeerProcess node = Peers.StartDaemon(".NET node (bad configuration)", output, "node", option, value);

        int exit = await node.WaitForExitAsync();

        exit.Should().Be(2, node.Describe());
        node.Lines.Should().ContainSingle().Which.Should().StartWith("error invalid configuration: " + named);
    }

    public Task InitializeAsync() => Task.CompletedTask;

    /// <summary>Stops every process the test started (xunit 2 calls this; it does not call IAsyncDisposable on test classes).</summary>
    public async Task DisposeAsync()
    {
        for (int i = _owned.Count - 1; i >= 0; i--)
        {
            await _owned[i].DisposeAsync();
        }
    }

    private static int FreePort()
    {
        using var probe = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        probe.Start();
        return ((System.Net.IPEndPoint)probe.LocalEndpoint).Port;
    }

    private T Own<T>(T disposable)
        where T : IAsyncDisposable
    {
        _owned.Add(disposable);
        return disposable;
    }

    private async Task<RelayProcess> DotnetRelayAsync(params string[] extra)
    {
        PeerProcess process = Own(Peers.Start(Impl.Dotnet, ".NET relay", output, ["node", "--relay-service", "on", "--listen", Peers.LoopbackAnyPort, .. extra]));
        string peerId = await process.WaitForLineAsync("peer");
        string address = await process.WaitForLineAsync("listening");
        await process.WaitForLineAsync("ready");
        return new RelayProcess(process, peerId, address);
    }

    /// <summary>A js-libp2p relay: it sends no adverts, and is given to the node without its peer id.</summary>
    private async Task<RelayProcess> JsRelayAsync()
    {
        RelayPeer relay = Own(await Peers.StartRelayAsync(Impl.Js, output));
        return new RelayProcess(relay.Process, relay.PeerId, relay.Address[..relay.Address.IndexOf("/p2p/", StringComparison.Ordinal)]);
    }

    /// <summary>A relay process and the candidate address the private node is given for it.</summary>
    private sealed record RelayProcess(PeerProcess Process, string PeerId, string Candidate);
}
