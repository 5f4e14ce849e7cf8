using CircuitRelay.Interop.Tests.Harness;
using Xunit.Abstractions;

namespace CircuitRelay.Interop.Tests;

/// <summary>Scenarios 5 and 6: relays refusing a CONNECT or a RESERVE, and the status reaching the other implementation.</summary>
[Collection(InteropCollection.Name)]
public sealed class RefusalTests(ITestOutputHelper output, SharedRelays relays)
{
    [Theory]
    [InlineData(Impl.Dotnet)]
    [InlineData(Impl.Js)]
    public async Task DotnetDial_TargetWithoutReservation_FailsWithNoReservation(Impl relay)
    {
        var relayPeer = await relays.GetAsync(relay);

        var run = await Peers.DialAsync(Impl.Dotnet, $"{relayPeer.Address}/p2p-circuit/p2p/{Sizes.UnreservedPeerId}", Sizes.OneKiB, output);

        run.ShouldFail().Should().StartWith("NO_RESERVATION", "{0}", run.Description);
    }

    [Fact]
    public async Task JsDial_DotnetRelayTargetWithoutReservation_FailsWithNoReservation()
    {
        var relayPeer = await relays.GetAsync(Impl.Dotnet);

        var run = await Peers.DialAsync(Impl.Js, $"{relayPeer.Address}/p2p-circuit/p2p/{Sizes.UnreservedPeerId}", Sizes.OneKiB, output);

        // js: "failed to connect via relay with status NO_RESERVATION"
        run.ShouldFail().Should().Contain("NO_RESERVATION", "{0}", run.Description);
    }

    [Theory]
    [InlineData(Impl.Js, Impl.Dotnet)]
    [InlineData(Impl.Dotnet, Impl.Dotnet)]
    [InlineData(Impl.Dotnet, Impl.Js)]
    [InlineData(Impl.Js, Impl.Js)]
    public async Task DotnetReserve_OverRelayedConnection_FailsWithPermissionDenied(Impl firstRelay, Impl secondRelay)
    {
        var first = await relays.GetAsync(firstRelay);
        await using var second = await Peers.StartRelayAsync(secondRelay, output, via: first.Address);

        var run = await Peers.RunClientAsync(Impl.Dotnet, output, "reserve", $"{first.Address}/p2p-circuit/p2p/{second.PeerId}");

        run.ShouldFail().Should().StartWith("PERMISSION_DENIED", "{0}", run.Description);
    }
}
