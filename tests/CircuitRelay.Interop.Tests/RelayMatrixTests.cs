using CircuitRelay.Interop.Tests.Harness;
using Xunit.Abstractions;

namespace CircuitRelay.Interop.Tests;

/// <summary>Scenario 2: every combination of implementations for relay, listener and dialer, through an unlimited relay.</summary>
[Collection(InteropCollection.Name)]
public sealed class RelayMatrixTests(ITestOutputHelper output, SharedRelays relays)
{
    public static TheoryData<Impl, Impl, Impl> Roles
    {
        get
        {
            var data = new TheoryData<Impl, Impl, Impl>();
            foreach (var relay in new[] { Impl.Dotnet, Impl.Js })
            {
                foreach (var listener in new[] { Impl.Dotnet, Impl.Js })
                {
                    foreach (var dialer in new[] { Impl.Dotnet, Impl.Js })
                    {
                        data.Add(relay, listener, dialer);
                    }
                }
            }

            return data;
        }
    }

    [Theory]
    [MemberData(nameof(Roles))]
    public async Task CircuitEcho_UnlimitedRelay_ReturnsSixteenMiBExactly(Impl relay, Impl listener, Impl dialer)
    {
        var relayPeer = await relays.GetAsync(relay);
        await using var listenerPeer = await Peers.StartRelayedListenerAsync(listener, relayPeer.Address, output);
        listenerPeer.Address.Should().Contain("/p2p-circuit/p2p/" + listenerPeer.PeerId);

        var run = await Peers.DialAsync(dialer, listenerPeer.Address, Sizes.SixteenMiB, output);

        run.ShouldSucceedWith("echo ok").Should().StartWith($"{Sizes.SixteenMiB} bytes ");
    }
}
