using CircuitRelay.Interop.Tests.Harness;
using Xunit.Abstractions;

namespace CircuitRelay.Interop.Tests;

/// <summary>
/// AutoNAT v1 and v2 over real TCP between processes: our client against our server and against js-libp2p's
/// (<c>@libp2p/autonat</c>, <c>@libp2p/autonat-v2</c>). js refuses by design to dial or ask about private, loopback and
/// documentation addresses (its <c>isPrivate</c> list), so with js only refusals can be exchanged on a safe network:
/// what is proven is that each side reads the other's messages and answers as its implementation intends. Our server
/// with <c>--autonat-allow-private</c> dials a loopback client back for real.
/// </summary>
[Collection(InteropCollection.Name)]
public sealed class AutoNatTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData("1", "autonat v1 ok /ip4/127.0.0.1/tcp/")]
    [InlineData("2", "autonat v2 reachable /ip4/127.0.0.1/tcp/")]
    public async Task DotnetClient_DotnetServerAllowingLoopback_DialsBackForReal(string version, string expected)
    {
        await using var server = await StartDotnetServerAsync();

        var run = await Peers.RunClientAsync(Impl.Dotnet, output, "autonat-probe", server.Address, "--autonat-version", version);

        ("autonat " + run.ShouldSucceedWith("autonat")).Should().StartWith(expected);
    }

    [Fact]
    public async Task DotnetClient_DotnetServerWithDefaults_RefusesLoopback()
    {
        await using var server = await StartDotnetServerAsync(allowPrivate: false);

        var v1 = await Peers.RunClientAsync(Impl.Dotnet, output, "autonat-probe", server.Address, "--autonat-version", "1");
        var v2 = await Peers.RunClientAsync(Impl.Dotnet, output, "autonat-probe", server.Address, "--autonat-version", "2");

        v1.ShouldSucceedWith("autonat").Should().StartWith("v1 dial_refused");
        v2.ShouldSucceedWith("autonat").Should().StartWith("v2 refused");
    }

    [Fact]
    public async Task DotnetClientV1_JsServer_AnswersDialRefusedForLoopback()
    {
        await using var server = await StartJsServerAsync();

        var run = await Peers.RunClientAsync(Impl.Dotnet, output, "autonat-probe", server.Address, "--autonat-version", "1");

        run.ShouldSucceedWith("autonat").Should().Be("v1 dial_refused - no dialable addresses", "js read our DIAL (peer id included) and answered with its own status text");
    }

    [Fact]
    public async Task DotnetClientV2_JsServer_AnswersDialRefusedWithTheAddressIndex()
    {
        await using var server = await StartJsServerAsync();

        // An address js has no transport for: it answers E_DIAL_REFUSED for it without dialing anything.
        var run = await Peers.RunClientAsync(Impl.Dotnet, output, "autonat-probe", server.Address, "--autonat-version", "2", "--address", "/ip4/127.0.0.1/udp/9/quic-v1");

        run.ShouldSucceedWith("autonat").Should().StartWith("v2 refused", "js parsed our dial request and our client parsed its dial response");
    }

    [Fact]
    public async Task DotnetClientV2_JsServer_LoopbackAddressGetsNoAnswerAndNoSignal()
    {
        await using var server = await StartJsServerAsync();

        var run = await Peers.RunClientAsync(Impl.Dotnet, output, "autonat-probe", server.Address, "--autonat-version", "2");

        run.ShouldSucceedWith("autonat").Should().StartWith("v2 failed", "js closes the stream without a response for a private address; that is no signal, not an error of ours");
    }

    [Fact]
    public async Task JsClientV1_DotnetServer_DialsTheJsNodeBackOk()
    {
        await using var server = await StartDotnetServerAsync();

        var run = await Peers.RunClientAsync(Impl.Js, output, "autonat-ask", server.Address, "--autonat-version", "1");

        run.ShouldSucceedWith("autonat").Should().MatchRegex(@"^v1 OK /ip4/127\.0\.0\.1/tcp/\d+ dialed$", "our server read js's DIAL and dialed the js node back");
    }

    [Fact]
    public async Task JsClientV2_DotnetServer_DeliversTheNonceOnTheDialBack()
    {
        await using var server = await StartDotnetServerAsync();

        var run = await Peers.RunClientAsync(Impl.Js, output, "autonat-ask", server.Address, "--autonat-version", "2");

        run.ShouldSucceedWith("autonat").Should().Be("v2 OK OK 0 nonce received dial-data 0", "js's dial-back handler got its nonce from our server, which answered OK for address 0");
    }

    private async Task<ListenerPeer> StartDotnetServerAsync(bool allowPrivate = true)
    {
        string[] args = ["node", "--listen", Peers.LoopbackAnyPort, "--relay-service", "off", "--max-relays", "0", "--autonat-boot-delay", "600"];
        var process = Peers.Start(Impl.Dotnet, ".NET AutoNAT server", output, [.. args, .. allowPrivate ? ["--autonat-allow-private"] : Array.Empty<string>()]);
        return await Peers.ReadyAsync(process);
    }

    private async Task<ListenerPeer> StartJsServerAsync()
        => await Peers.ReadyAsync(Peers.Start(Impl.Js, "js AutoNAT server", output, "autonat-server", "--port", "0"));
}
