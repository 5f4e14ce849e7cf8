using CircuitRelay.Interop.Tests.Harness;
using Xunit.Abstractions;

namespace CircuitRelay.Interop.Tests;

/// <summary>Scenario 1: plain TCP + Noise + Yamux between the implementations, no relay.</summary>
[Collection(InteropCollection.Name)]
public sealed class DirectTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData(Impl.Js, Impl.Dotnet)]
    [InlineData(Impl.Dotnet, Impl.Js)]
    public async Task DirectEcho_SixteenMiB_ReturnsEveryByte(Impl listener, Impl dialer)
    {
        await using var server = await Peers.StartDirectListenerAsync(listener, output);

        var run = await Peers.DialAsync(dialer, server.Address, Sizes.SixteenMiB, output);

        run.ShouldSucceedWith("echo ok").Should().StartWith($"{Sizes.SixteenMiB} bytes ");
    }

    [Theory]
    [InlineData(Impl.Js, Impl.Dotnet)]
    [InlineData(Impl.Dotnet, Impl.Js)]
    public async Task DirectPing_ListenerUp_ReportsRoundTrip(Impl listener, Impl pinger)
    {
        await using var server = await Peers.StartDirectListenerAsync(listener, output);

        var run = await Peers.RunClientAsync(pinger, output, "ping", server.Address);

        run.ShouldSucceedWith("ping ok").Should().MatchRegex(@"^\d+(\.\d+)?");
    }
}
