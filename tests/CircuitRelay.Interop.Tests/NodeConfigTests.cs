using System.Text.Json;
using CircuitRelay.Interop.Tests.Harness;
using Xunit.Abstractions;

namespace CircuitRelay.Interop.Tests;

/// <summary><c>node --config &lt;file&gt;</c>: the JSON shape CircuitRelay.Hosting binds, options on the command line winning, <c>--print-config</c>, bad keys.</summary>
[Collection(InteropCollection.Name)]
public sealed class NodeConfigTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _file = Path.Combine(Path.GetTempPath(), $"circuitrelay-config-{Guid.NewGuid():N}.json");

    [Fact]
    public async Task PrintConfig_FileAndCommandLine_TheCommandLineWinsAndEveryKeyIsShown()
    {
        await File.WriteAllTextAsync(_file, """
            {
              "CircuitRelay": {
                "Host": { "ListenAddresses": [ "/ip4/127.0.0.1/tcp/0" ] },
                "Node": { "RelayService": "On", "Role": "Public" },
                "RelayServer": { "MaxReservations": 7, "ReservationTtl": "00:20:00", "MaxCircuits": 11, "ReservationRateLimitPerPeer": { "Permits": 3 } },
                "AutoNat": { "Confidence": 4 },
                "AutoNatServer": { "AllowPrivate": true }
              }
            }
            """);

        var run = await Peers.RunClientAsync(Impl.Dotnet, output, "node", "--config", _file, "--max-circuits", "12", "--print-config");

        run.ExitCode.Should().Be(0, run.Description);
        JsonElement relay = JsonDocument.Parse(string.Join('\n', run.Lines)).RootElement.GetProperty("CircuitRelay");
        relay.GetProperty("RelayServer").GetProperty("MaxReservations").GetInt32().Should().Be(7, "from the file");
        relay.GetProperty("RelayServer").GetProperty("MaxCircuits").GetInt32().Should().Be(12, "the command line wins over the file");
        relay.GetProperty("RelayServer").GetProperty("ReservationTtl").GetString().Should().Be("00:20:00");
        relay.GetProperty("RelayServer").GetProperty("ReservationRateLimitPerPeer").GetProperty("Permits").GetInt32().Should().Be(3, "a nested section");
        relay.GetProperty("Node").GetProperty("RelayService").GetString().Should().Be("On");
        relay.GetProperty("Node").GetProperty("Role").GetString().Should().Be("Public");
        relay.GetProperty("AutoNat").GetProperty("Confidence").GetInt32().Should().Be(4);
        relay.GetProperty("AutoNatServer").GetProperty("AllowPrivate").GetBoolean().Should().BeTrue();
        relay.GetProperty("Host").GetProperty("ListenAddresses")[0].GetString().Should().Be("/ip4/127.0.0.1/tcp/0");
        relay.GetProperty("AutoRelay").GetProperty("DesiredReservations").GetInt32().Should().Be(2, "a key the file does not set shows its default");
    }

    [Fact]
    public async Task Node_FromAConfigFile_RunsAsTheFileSays()
    {
        await File.WriteAllTextAsync(_file, """
            { "CircuitRelay": { "Host": { "ListenAddresses": [ "/ip4/127.0.0.1/tcp/0" ] }, "Node": { "RelayService": "On", "AutoNat": "Off" } } }
            """);
        await using var node = Peers.Start(Impl.Dotnet, ".NET node from a config file", output, "node", "--config", _file);

        (await node.WaitForLineAsync("listening")).Should().StartWith("/ip4/127.0.0.1/tcp/");
        await node.WaitForLineAsync("relay-service", line => line == "on");
        await node.WaitForLineAsync("ready");
    }

    [Theory]
    [InlineData("""{ "CircuitRelay": { "RelayServer": { "MaxReservatons": 3 } } }""", "CircuitRelay:RelayServer:MaxReservatons")]
    [InlineData("""{ "CircuitRelay": { "RelayServer": { "MaxReservations": -1 } } }""", "MaxReservations")]
    [InlineData("""{ "CircuitRelay": { "Host": { "ListenAddresses": "/ip4/127.0.0.1/tcp/0" } } }""", "must be an array")]
    [InlineData("""not json""", "--config")]
    public async Task Node_BadConfigFile_OneLineNamingTheKeyAndExit2(string json, string named)
    {
        await File.WriteAllTextAsync(_file, json);

        var run = await Peers.RunClientAsync(Impl.Dotnet, output, "node", "--config", _file);

        run.ExitCode.Should().Be(2, run.Description);
        run.Line("error").Should().StartWith("invalid configuration:").And.Contain(named);
    }

    public void Dispose() => File.Delete(_file);
}
