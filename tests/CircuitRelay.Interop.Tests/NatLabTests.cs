using System.Diagnostics;
using System.Globalization;
using CircuitRelay.Interop.Tests.Harness;
using Xunit.Abstractions;

namespace CircuitRelay.Interop.Tests;

/// <summary>
/// Reachability with a real NAT (<see cref="NatLab"/>: network namespaces, nftables masquerade): three public nodes
/// on three /24s learn by AutoNAT that they are public and serve as relays; a node behind the NAT, given only the three
/// as candidates, learns that it is private (the dial-backs to the NAT's address are refused) and becomes reachable
/// through a relay, so a peer that cannot dial it directly reaches it through the circuit.
/// </summary>
[Collection(InteropCollection.Name)]
public sealed class NatLabTests(ITestOutputHelper output)
{
    [Fact]
    public async Task NodeBehindARealNat_TurnsPrivateAndIsReachedThroughAPublicNodeThatTurnedRelay()
    {
        await using NatLab lab = await NatLab.CreateAsync(output);
        var clock = Stopwatch.StartNew();
        var publics = new List<PeerProcess>();
        for (int i = 0; i < NatLab.PublicHosts.Count; i++)
        {
            (string ns, string address) = NatLab.PublicHosts[i];
            var args = new List<string>
            {
                "node", "--listen", $"/ip4/{address}/tcp/4001", "--rng-seed", (i + 1).ToString(CultureInfo.InvariantCulture),
                "--autonat-boot-delay", "0.5", "--autonat-retry", "1",

                // Two other public nodes on two other /24s are all a public node can ask.
                "--autonat-confidence", "2",
            };
            foreach ((_, string other) in NatLab.PublicHosts.Where(h => h.Address != address))
            {
                args.AddRange(["--relay-candidate", $"/ip4/{other}/tcp/4001"]);
            }

            publics.Add(lab.StartNode(ns, $"public {address}", [.. args]));
        }

        var ids = new List<string>();
        foreach (PeerProcess node in publics)
        {
            ids.Add(await node.WaitForLineAsync("peer"));
        }

        foreach (PeerProcess node in publics)
        {
            await node.WaitForLineAsync("role", line => line == "public");
            await node.WaitForLineAsync("relay-service", line => line == "on");
        }

        TimeSpan publicAfter = clock.Elapsed;

        clock.Restart();
        PeerProcess behindNat = lab.StartNode(
            NatLab.PrivateNamespace,
            "private 10.0.0.2",
            [
                "node", "--listen", $"/ip4/{NatLab.PrivateAddress}/tcp/4001", "--rng-seed", "7",
                "--autonat-boot-delay", "0.5", "--autonat-retry", "1", "--max-relays", "1",
                .. NatLab.PublicHosts.SelectMany(h => new[] { "--relay-candidate", $"/ip4/{h.Address}/tcp/4001" }),
            ]);
        string privateId = await behindNat.WaitForLineAsync("peer");
        string circuit = await behindNat.WaitForLineAsync("reachable");
        TimeSpan reachableAfter = clock.Elapsed;
        await behindNat.WaitForLineAsync("role", line => line == "private");
        TimeSpan privateAfter = clock.Elapsed;
        behindNat.Lines.Should().NotContain("relay-service on", "a private node does not serve as a relay");
        output.WriteLine($"figures: all public after {publicAfter.TotalSeconds:F1} s; behind the NAT: reachable after {reachableAfter.TotalSeconds:F1} s, private after {privateAfter.TotalSeconds:F1} s");

        circuit.Should().Contain("/p2p-circuit/p2p/" + privateId);
        (string dialerNs, string dialerAddress) = NatLab.PublicHosts.First(h => !circuit.StartsWith($"/ip4/{h.Address}/", StringComparison.Ordinal));
        await using PeerProcess direct = lab.StartNode(dialerNs, $"direct dialer in {dialerAddress}", "dial", $"/ip4/{NatLab.NatPublicAddress}/tcp/4001/p2p/{privateId}", "--timeout", "10");
        (await direct.WaitForExitAsync()).Should().NotBe(0, "nothing is forwarded through the NAT: the node cannot be dialed at its public address");

        await using PeerProcess relayed = lab.StartNode(dialerNs, $"relayed dialer in {dialerAddress}", "dial", circuit, "--bytes", "65536"); // within the default 128 KiB circuit limit
        (await relayed.WaitForExitAsync()).Should().Be(0, relayed.Describe());
        relayed.Lines.Should().Contain(l => l.StartsWith("echo ok 65536 bytes", StringComparison.Ordinal));
    }
}
