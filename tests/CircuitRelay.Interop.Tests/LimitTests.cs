using System.Globalization;
using CircuitRelay.Interop.Tests.Harness;
using Xunit.Abstractions;

namespace CircuitRelay.Interop.Tests;

/// <summary>Scenarios 3 and 4: one implementation's relay limits as the other implementation sees them.</summary>
[Collection(InteropCollection.Name)]
public sealed class LimitTests(ITestOutputHelper output)
{
    // js counts one budget for both directions, overhead included: 1 KiB echoes, 2 MiB cannot.
    private const long JsDataLimit = 300_000;

    // The .NET relay counts per direction, as the spec says.
    private const long DotnetDataLimit = 65_536;

    [Fact]
    public async Task Reserve_JsRelayWithDataLimit_ReportsTheDataLimit()
    {
        await using var relay = await Peers.StartRelayAsync(Impl.Js, output, dataLimit: JsDataLimit);

        var run = await Peers.RunClientAsync(Impl.Dotnet, output, "reserve", relay.Address);

        // reserved <expiry unix s> limit <duration s> <data bytes>
        var fields = run.ShouldSucceedWith("reserved").Split(' ');
        fields.Should().HaveCount(4, "{0}", run.Description);
        fields[1].Should().Be("limit");
        fields[3].Should().Be(JsDataLimit.ToString(CultureInfo.InvariantCulture), "{0}", run.Description);
        long.Parse(fields[0], CultureInfo.InvariantCulture).Should().BeGreaterThan(DateTimeOffset.UtcNow.ToUnixTimeSeconds());
    }

    [Fact]
    public async Task DotnetDial_JsRelayWithDataLimit_SmallEchoPasses()
    {
        await using var relay = await Peers.StartRelayAsync(Impl.Js, output, dataLimit: JsDataLimit);
        await using var listener = await Peers.StartRelayedListenerAsync(Impl.Dotnet, relay.Address, output);

        var run = await Peers.DialAsync(Impl.Dotnet, listener.Address, Sizes.OneKiB, output);

        run.ShouldSucceedWith("echo ok").Should().StartWith($"{Sizes.OneKiB} bytes ");
    }

    [Fact]
    public async Task DotnetDial_JsRelayWithDataLimit_LargeEchoFails()
    {
        await using var relay = await Peers.StartRelayAsync(Impl.Js, output, dataLimit: JsDataLimit);
        await using var listener = await Peers.StartRelayedListenerAsync(Impl.Dotnet, relay.Address, output);

        var run = await Peers.DialAsync(Impl.Dotnet, listener.Address, Sizes.TwoMiB, output);

        run.ShouldFail();
    }

    [Fact]
    public async Task JsDial_DotnetRelayWithDataLimit_SmallEchoPasses()
    {
        await using var relay = await Peers.StartRelayAsync(Impl.Dotnet, output, dataLimit: DotnetDataLimit);
        await using var listener = await Peers.StartRelayedListenerAsync(Impl.Js, relay.Address, output);

        var run = await Peers.DialAsync(Impl.Js, listener.Address, Sizes.OneKiB, output);

        run.ShouldSucceedWith("echo ok").Should().StartWith($"{Sizes.OneKiB} bytes ");
    }

    [Fact]
    public async Task JsDial_DotnetRelayWithDataLimit_LargeEchoFails()
    {
        await using var relay = await Peers.StartRelayAsync(Impl.Dotnet, output, dataLimit: DotnetDataLimit);
        await using var listener = await Peers.StartRelayedListenerAsync(Impl.Js, relay.Address, output);

        var run = await Peers.DialAsync(Impl.Js, listener.Address, Sizes.OneMiB, output);

        run.ShouldFail();
    }
}
