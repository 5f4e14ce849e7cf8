using CircuitRelay.Interop.Tests.Harness;
using Xunit.Abstractions;

namespace CircuitRelay.Interop.Tests;

/// <summary>The README's main demo, run as a user runs it.</summary>
[Collection(InteropCollection.Name)]
public sealed class DemoTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Demo_ManualAndAutomaticRelays_EchoesThroughEveryRelayAndEndsOk()
    {
        ClientRun run = await Peers.RunClientAsync(Impl.Dotnet, output, "demo");

        run.ShouldSucceedWith("demo").Should().Be("ok");
        run.Lines.Count(l => l.StartsWith("echo ok ", StringComparison.Ordinal)).Should().Be(3, "one echo through the manual relay, one through each automatic one:{0}{1}", Environment.NewLine, run.Description);
        run.Lines.Should().Contain(l => l.StartsWith("unreachable ", StringComparison.Ordinal), run.Description);
    }
}
