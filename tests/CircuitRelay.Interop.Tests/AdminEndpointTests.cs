using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using CircuitRelay.Interop.Tests.Harness;
using Xunit.Abstractions;

namespace CircuitRelay.Interop.Tests;

/// <summary>
/// The node's admin endpoint (<c>node --admin-listen</c>) and the <c>metrics</c> subcommand, with real processes over
/// loopback: the JSON snapshot counts a reservation a client made, bad configuration is refused, and malformed requests
/// or a flood of connections get answers or resets while the node keeps serving.
/// </summary>
[Collection(InteropCollection.Name)]
public sealed class AdminEndpointTests(ITestOutputHelper output) : IAsyncLifetime
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);
    private readonly List<IAsyncDisposable> _owned = [];

    [Fact]
    public async Task Metrics_RelayNodeWithAnAdminEndpoint_PrintsTheSnapshotAndCountsAReservation()
    {
        AdminNode node = await StartRelayNodeAsync();
        node.Admin.Should().MatchRegex(@"^http://127\.0\.0\.1:\d+/$");

        using (JsonDocument before = await MetricsAsync(node.Admin))
        {
            JsonElement root = before.RootElement;
            root.EnumerateObject().Select(p => p.Name).Should().Equal("time", "relay", "autoRelay", "autoNat", "autoNatServers");
            root.GetProperty("relay").GetProperty("reservationsAccepted").GetInt64().Should().Be(0);
            root.GetProperty("autoRelay").ValueKind.Should().Be(JsonValueKind.Null, "--relay-service on with no static relays runs no AutoRelay worker");
            root.GetProperty("autoNat").GetProperty("role").GetString().Should().Be("unknown");
            root.GetProperty("autoNatServers").GetProperty("v2").GetProperty("requestsServed").GetInt64().Should().Be(0);
        }

        (await Peers.RunClientAsync(Impl.Dotnet, output, "reserve", node.Address)).ShouldSucceedWith("reserved");

        using JsonDocument after = await MetricsUntilAsync(node.Admin, root => root.GetProperty("relay").GetProperty("reservationsAccepted").GetInt64() == 1);
        after.RootElement.GetProperty("relay").GetProperty("reservationsRefused").GetInt64().Should().Be(0);
    }

    [Theory]
    [InlineData("0.0.0.0:0")]
    [InlineData("192.0.2.1:5001")]
    [InlineData("127.0.0.1")]
    [InlineData("localhost:5001")]
    public async Task Node_AdminListenNotLoopbackOrMalformed_OneErrorLineAndExitTwo(string value)
    {
        await using PeerProcess node = Peers.StartDaemon(".NET node (bad admin address)", output, "node", "--admin-listen", value);

        int exit = await node.WaitForExitAsync();

        exit.Should().Be(2, node.Describe());
        node.Lines.Should().ContainSingle().Which.Should().StartWith("error invalid configuration: --admin-listen");
    }

    [Fact]
    public async Task Node_AdminListenAnyAddressWithAllowRemote_Serves()
    {
        PeerProcess process = Own(Peers.Start(Impl.Dotnet, ".NET node (admin on any address)", output, "node", "--role", "private", "--autonat", "off", "--admin-listen", "0.0.0.0:0", "--admin-allow-remote"));
        string admin = await process.WaitForLineAsync("admin");
        await process.WaitForLineAsync("ready");
        admin.Should().StartWith("http://0.0.0.0:");

        using JsonDocument json = await MetricsAsync(admin.Replace("0.0.0.0", "127.0.0.1", StringComparison.Ordinal));

        json.RootElement.GetProperty("autoNat").ValueKind.Should().Be(JsonValueKind.Null, "--autonat off runs no AutoNAT");
        json.RootElement.GetProperty("autoRelay").GetProperty("desiredReservations").GetInt32().Should().Be(2);
    }

    [Fact]
    public async Task AdminEndpoint_MalformedRequestsAndAFlood_AnsweredOrResetAndTheNodeKeepsServing()
    {
        AdminNode node = await StartRelayNodeAsync();
        var uri = new Uri(node.Admin);

        (await RawAsync(uri, "garbage\r\n\r\n")).Should().StartWith("HTTP/1.1 400 ");
        (await RawAsync(uri, "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc")).Should().StartWith("HTTP/1.1 405 ");
        (await RawAsync(uri, "GET /nowhere HTTP/1.1\r\nHost: x\r\n\r\n")).Should().StartWith("HTTP/1.1 404 ");
        (await RawAsync(uri, $"GET /metrics HTTP/1.1\r\nX-Big: {new string('a', 16 * 1024)}\r\n\r\n")).Should().StartWith("HTTP/1.1 431 ");
        (await RawAsync(uri, "GET /metrics HTTP/1.1\r\n\0\u0001\r\n\r\n")).Should().StartWith("HTTP/1.1 400 ");
        string ok = await RawAsync(uri, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        ok.Should().StartWith("HTTP/1.1 200 ").And.Contain("Content-Type: application/json").And.Contain("Connection: close");

        // A flood of idle connections takes every slot; the rest are reset at once, and the node goes on.
        var flood = new List<TcpClient>();
        try
        {
            for (int i = 0; i < 100; i++)
            {
                var client = new TcpClient();
                flood.Add(client);
                try
                {
                    await client.ConnectAsync(uri.Host, uri.Port).WaitAsync(Bound);
                }
                catch (SocketException ex) when (ex.SocketErrorCode == SocketError.ConnectionReset)
                {
                    // Reset as it was accepted: the endpoint was busy.
                }
            }

            (await Peers.RunClientAsync(Impl.Dotnet, output, "ping", node.Address)).ShouldSucceedWith("ping ok");
        }
        finally
        {
            flood.ForEach(c => c.Dispose());
        }

        using JsonDocument json = await MetricsUntilAsync(node.Admin, _ => true);
        json.RootElement.GetProperty("relay").ValueKind.Should().Be(JsonValueKind.Object);
        node.Process.HasExited.Should().BeFalse(node.Process.Describe());
    }

    [Fact]
    public async Task Metrics_NothingListening_ErrorLineAndExitOne()
    {
        using var probe = new TcpListener(System.Net.IPAddress.Loopback, 0);
        probe.Start();
        int port = ((System.Net.IPEndPoint)probe.LocalEndpoint).Port;
        probe.Stop();

        ClientRun run = await Peers.RunClientAsync(Impl.Dotnet, output, "metrics", $"127.0.0.1:{port}");

        run.ExitCode.Should().Be(1, run.Description);
        run.Lines.Should().ContainSingle().Which.Should().StartWith("error ");
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

    /// <summary>Sends <paramref name="request"/> as it is and reads the whole answer (the endpoint closes after one).</summary>
    private static async Task<string> RawAsync(Uri admin, string request)
    {
        using var client = new TcpClient();
        using var deadline = new CancellationTokenSource(Bound);
        await client.ConnectAsync(admin.Host, admin.Port, deadline.Token);
        NetworkStream stream = client.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes(request), deadline.Token);
        var answer = new MemoryStream();
        await stream.CopyToAsync(answer, deadline.Token);
        return Encoding.ASCII.GetString(answer.ToArray());
    }

    private async Task<AdminNode> StartRelayNodeAsync()
    {
        PeerProcess process = Own(Peers.Start(Impl.Dotnet, ".NET node (admin)", output, "node", "--listen", Peers.LoopbackAnyPort, "--relay-service", "on", "--admin-listen", "127.0.0.1:0"));
        string address = await process.WaitForLineAsync("listening");
        string admin = await process.WaitForLineAsync("admin");
        await process.WaitForLineAsync("ready");
        return new AdminNode(process, address, admin);
    }

    /// <summary>Runs <c>metrics &lt;admin&gt;</c> and parses what it printed.</summary>
    private async Task<JsonDocument> MetricsAsync(string admin)
    {
        ClientRun run = await Peers.RunClientAsync(Impl.Dotnet, output, "metrics", admin);
        run.ExitCode.Should().Be(0, run.Description);
        return JsonDocument.Parse(string.Join('\n', run.Lines));
    }

    /// <summary>
    /// Runs <c>metrics</c> until it succeeds with a snapshot <paramref name="done"/> accepts (the relay counts a
    /// reservation once its answer is written, a slot frees once a closed connection is seen), within <see cref="Bound"/>.
    /// </summary>
    private async Task<JsonDocument> MetricsUntilAsync(string admin, Func<JsonElement, bool> done)
    {
        DateTime deadline = DateTime.UtcNow + Bound;
        while (true)
        {
            ClientRun run = await Peers.RunClientAsync(Impl.Dotnet, output, "metrics", admin);
            if (run.ExitCode == 0)
            {
                JsonDocument json = JsonDocument.Parse(string.Join('\n', run.Lines));
                if (done(json.RootElement))
                {
                    return json;
                }

                json.Dispose();
            }

            DateTime.UtcNow.Should().BeBefore(deadline, "the snapshot should get there within {0} s; last run:{1}{2}", Bound.TotalSeconds, Environment.NewLine, run.Description);
        }
    }

    private T Own<T>(T disposable)
        where T : IAsyncDisposable
    {
        _owned.Add(disposable);
        return disposable;
    }

    /// <summary>A running node, its libp2p address and its admin URL.</summary>
    private sealed record AdminNode(PeerProcess Process, string Address, string Admin);
}
