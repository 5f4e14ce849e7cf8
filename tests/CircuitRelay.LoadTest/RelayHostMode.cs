using System.Globalization;
using CircuitRelay.Client;
using CircuitRelay.Crypto;
using CircuitRelay.ReferenceHost;
using CircuitRelay.Server;
using CircuitRelay.Transport;
using Microsoft.Extensions.Logging;

namespace CircuitRelay.LoadTest;

/// <summary>
/// <c>CircuitRelay.LoadTest relay-host --max-circuits N</c>: a .NET relay process built exactly like the node
/// CLI's <c>relay</c> (Libp2pHost + RelayClient + CircuitTransport + RelayServer, no circuit limit, per-peer caps
/// at N, per-peer rate limits off) that also turns the per-IP connect and reservation rate limits off. The
/// memory test falls back to it when the node CLI has no <c>--connect-rate-per-ip</c> option: every circuit of
/// the test comes from 127.0.0.1, and the default per-IP limit (60 connects a minute) would stop it at 60.
/// Same event lines as the CLI (<c>peer</c>, <c>listening</c>, <c>ready</c>); stops when stdin closes.
/// </summary>
internal static class RelayHostMode
{
    public const string Command = "relay-host";

    public static async Task<int> RunAsync(IReadOnlyList<string> args)
    {
        int maxCircuits = 2000;
        if (args is ["--max-circuits", { } text] && int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int parsed) && parsed > 0)
        {
            maxCircuits = parsed;
        }
        else if (args.Count != 0)
        {
            Console.Out.WriteLine("error UsageError: relay-host [--max-circuits N]");
            return 2;
        }

        using ILoggerFactory loggerFactory = LoggerFactory.Create(builder =>
        {
            builder.AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace); // stderr: stdout carries the report
            builder.AddSimpleConsole(o => o.SingleLine = true);
            builder.SetMinimumLevel(LogLevel.Warning);
        });
        using var meters = new LoadTestMeterFactory();
        var options = new RelayServerOptions
        {
            MaxCircuits = maxCircuits,
            MaxCircuitsPerPeer = maxCircuits,
            CircuitDurationLimit = TimeSpan.Zero,
            CircuitDataLimit = 0,
            ReservationRateLimitPerPeer = new RateLimitOptions { Permits = 0 },
            ReservationRateLimitPerIp = new RateLimitOptions { Permits = 0 },
            ConnectRateLimitPerPeer = new RateLimitOptions { Permits = 0 },
            ConnectRateLimitPerIp = new RateLimitOptions { Permits = 0 },
        };
        options.Validate();
        var hostOptions = new Libp2pHostOptions();
        hostOptions.ListenAddresses.Add("/ip4/127.0.0.1/tcp/0");
        await using Libp2pHost host = await Libp2pHost.StartAsync(KeyIdentity.Generate(), hostOptions, loggerFactory, TimeProvider.System);
        await using var client = new RelayClient(host, new RelayClientOptions(), loggerFactory, meters, TimeProvider.System);
        client.Start();
        host.AddTransport(new CircuitTransport(client));
        await using var relay = new RelayServer(host, options, loggerFactory, meters, TimeProvider.System);
        relay.Start();
        Console.Out.WriteLine($"peer {host.Identity.PeerId}");
        foreach (Multiaddr address in host.ListenAddresses)
        {
            Console.Out.WriteLine($"listening {address.WithPeerId(host.Identity.PeerId)}");
        }

        Console.Out.WriteLine("limit none");
        Console.Out.WriteLine("ready");
        Console.Out.Flush();
        while (await Console.In.ReadLineAsync() is not null)
        {
        }

        Console.Out.WriteLine("stopped stdin-closed");
        return 0;
    }
}
