using CircuitRelay.Interop.Tests.Harness;
using Xunit.Abstractions;

namespace CircuitRelay.Interop.Tests;

/// <summary><c>node --prometheus-listen</c>: OpenTelemetry's Prometheus exporter over the meter <c>CircuitRelay</c>, scraped over HTTP.</summary>
[Collection(InteropCollection.Name)]
public sealed class PrometheusTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Scrape_AfterAReservation_CountsItInThePrometheusFormat()
    {
        await using var relay = Peers.Start(Impl.Dotnet, ".NET relay with Prometheus", output, "node", "--listen", Peers.LoopbackAnyPort, "--relay-service", "on", "--autonat", "off", "--prometheus-listen", "127.0.0.1:0");
        string address = await relay.WaitForLineAsync("listening");
        string url = await relay.WaitForLineAsync("prometheus");
        await relay.WaitForLineAsync("ready");
        (await Peers.RunClientAsync(Impl.Dotnet, output, "reserve", address)).ShouldSucceedWith("reserved");

        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
        string scraped = await http.GetStringAsync(new Uri(url));

        scraped.Should().Contain("# TYPE libp2p_relay_server_reservations_total counter");
        scraped.Split('\n').Should().Contain(l => l.StartsWith("libp2p_relay_server_reservations_total{", StringComparison.Ordinal) && l.Contains("outcome=\"accepted\"", StringComparison.Ordinal) && l.EndsWith(" 1", StringComparison.Ordinal));
    }

    [Fact]
    public async Task PrometheusListen_NotLoopback_RefusedWithExit2()
    {
        var run = await Peers.RunClientAsync(Impl.Dotnet, output, "node", "--prometheus-listen", "192.0.2.1:9464");

        run.ExitCode.Should().Be(2, run.Description);
        run.Line("error").Should().Contain("--prometheus-listen").And.Contain("loopback");
    }
}
