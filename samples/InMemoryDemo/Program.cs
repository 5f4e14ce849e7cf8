// Three nodes in one process, each a reference libp2p host (Noise, Yamux) over the in-process memory transport:
// a relay, a private node behind a NAT that listens through it, and a dialer that reaches the private node
// through the relay. Narrates each step. No sockets: everything stays in the process.
using System.Diagnostics.Metrics;
using System.IO.Pipelines;
using System.Net;
using System.Security.Cryptography;
using CircuitRelay;
using CircuitRelay.Client;
using CircuitRelay.Crypto;
using CircuitRelay.ReferenceHost;
using CircuitRelay.ReferenceHost.Transports.Memory;
using CircuitRelay.Server;
using CircuitRelay.Transport;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

using var meters = new DemoMeterFactory();
ILoggerFactory logs = args.Contains("-v")
    ? LoggerFactory.Create(b => b.AddSimpleConsole(o => o.SingleLine = true).SetMinimumLevel(LogLevel.Debug))
    : NullLoggerFactory.Instance;
TimeProvider time = TimeProvider.System;

using var network = new MemoryNetwork();

// 1. The relay: a public node running the relay service with small limits so the demo can show them.
using var relayKey = KeyIdentity.Generate();
await using Libp2pHost relayHost = await StartHostAsync(relayKey, network.AddNode(IPAddress.Parse("198.51.100.1")), logs);
await using var relay = new RelayServer(relayHost, new RelayServerOptions { CircuitDataLimit = 64 * 1024, CircuitDurationLimit = TimeSpan.FromMinutes(2) }, logs, meters, time);
relay.Start();
Multiaddr relayAddress = relayHost.Addresses[0].WithPeerId(relayHost.Identity.PeerId);
Console.WriteLine($"relay      {relayAddress}");

// 2. The private node, behind a NAT (nobody can dial it): reserves a slot on the relay and listens on /p2p-circuit.
using var privateKey = KeyIdentity.Generate();
MemoryNat nat = network.AddNat(IPAddress.Parse("203.0.113.1"), NatMapping.Symmetric);
await using Libp2pHost privateHost = await StartHostAsync(privateKey, nat.AddNode(IPAddress.Parse("10.0.0.2")), logs);
await using var privateClient = new RelayClient(privateHost, new RelayClientOptions(), logs, meters, time);
privateClient.Start();
await using CircuitListener listener = await new CircuitTransport(privateClient).ListenAsync(relayAddress.Encapsulate("/p2p-circuit"));
Console.WriteLine($"private    reserved until {listener.Reservation.Expiry:u}, voucher signed by {listener.Reservation.Voucher?.Relay}");
Console.WriteLine($"private    reachable at {listener.ListenAddresses[0].WithPeerId(privateHost.Identity.PeerId)}");
Console.WriteLine($"private    relay limit: {listener.Reservation.Limit?.DataBytes} bytes per direction, {listener.Reservation.Limit?.Duration.TotalSeconds} s");

// The private node echoes every byte of every relayed connection.
_ = Task.Run(async () =>
{
    while (await listener.AcceptAsync() is { } connection)
    {
        _ = Task.Run(async () =>
        {
            await using (connection)
            {
                await connection.Input.CopyToAsync(connection.Output);
                await connection.Output.CompleteAsync();
            }
        });
    }
});

// 3. The dialer: connects to the private node through the relay and checks the echo.
using var dialerKey = KeyIdentity.Generate();
await using Libp2pHost dialerHost = await StartHostAsync(dialerKey, network.AddNode(IPAddress.Parse("203.0.113.5")), logs);
await using var dialerClient = new RelayClient(dialerHost, new RelayClientOptions(), logs, meters, time);
dialerClient.Start();
var transport = new CircuitTransport(dialerClient);
Multiaddr target = Multiaddr.CreateCircuit(relayHost.Addresses[0], relayHost.Identity.PeerId, privateHost.Identity.PeerId);
Console.WriteLine($"dialer     dialing {target}");

int failures = 0;

// The private node is behind its NAT: a direct dial to the NAT's address is filtered.
try
{
    await dialerHost.DialAsync(Multiaddr.Parse($"/ip4/203.0.113.1/tcp/4001/p2p/{privateHost.Identity.PeerId}"));
    Console.WriteLine("dialer     direct dial to the private node UNEXPECTEDLY succeeded");
    failures++;
}
catch (IOException ex)
{
    Console.WriteLine($"dialer     direct dial refused ({ex.Message}), so through the relay");
}

failures += await EchoAsync(transport, target, 32 * 1024, expectComplete: true) ? 0 : 1;

// 4. The limit: more than 64 KiB in one direction is cut at exactly 64 KiB.
failures += await EchoAsync(transport, target, 256 * 1024, expectComplete: false) ? 0 : 1;

RelayServerStatistics stats = relay.GetStatistics();
Console.WriteLine($"relay      circuits opened {stats.CircuitsOpened}, bytes to target {stats.BytesToTarget}, bytes to source {stats.BytesToSource}");
Console.WriteLine(failures == 0 ? "demo ok" : "demo FAILED");
return failures == 0 ? 0 : 1;

// A reference host that dials and listens through one memory-network node, on /ip4/<its address>/tcp/4001.
static Task<Libp2pHost> StartHostAsync(KeyIdentity identity, MemoryTransport node, ILoggerFactory logs)
{
    var options = new Libp2pHostOptions();
    options.Transports.Add(node);
    options.ListenAddresses.Add($"/ip4/{node.Addresses[0]}/tcp/4001");
    return Libp2pHost.StartAsync(identity, options, logs);
}

static async Task<bool> EchoAsync(CircuitTransport transport, Multiaddr target, int size, bool expectComplete)
{
    await using RelayedConnection connection = await transport.DialAsync(target);
    byte[] payload = RandomNumberGenerator.GetBytes(size);
    var stopwatch = System.Diagnostics.Stopwatch.StartNew();
    Task send = Task.Run(async () =>
    {
        try
        {
            await connection.Output.WriteAsync(payload);
            await connection.Output.CompleteAsync();
        }
        catch (IOException)
        {
            // The relay resets a sender that goes past the limit.
        }
    });
    byte[] echoed = await ReadAllAsync(connection.Input);
    await send;
    bool exact = echoed.AsSpan().SequenceEqual(payload.AsSpan(0, echoed.Length));
    if (expectComplete)
    {
        bool ok = exact && echoed.Length == size;
        Console.WriteLine($"dialer     echo {(ok ? "ok" : "FAILED")}: {echoed.Length} of {size} bytes in {stopwatch.ElapsedMilliseconds} ms");
        return ok;
    }

    bool cut = exact && echoed.Length < size;
    Console.WriteLine($"dialer     sent {size} bytes over the limited circuit: {echoed.Length} came back byte-exact, then the relay closed the circuit {(cut ? "(as the limit says)" : "(UNEXPECTED)")}");
    return cut;
}

static async Task<byte[]> ReadAllAsync(PipeReader reader)
{
    using var buffer = new MemoryStream();
    try
    {
        while (true)
        {
            ReadResult result = await reader.ReadAsync();
            foreach (ReadOnlyMemory<byte> segment in result.Buffer)
            {
                buffer.Write(segment.Span);
            }

            reader.AdvanceTo(result.Buffer.End);
            if (result.IsCompleted)
            {
                break;
            }
        }
    }
    catch (IOException)
    {
        // Reset by the relay.
    }

    return buffer.ToArray();
}

internal sealed class DemoMeterFactory : IMeterFactory
{
    private readonly List<Meter> _meters = [];

    public Meter Create(MeterOptions options)
    {
        var meter = new Meter(options);
        _meters.Add(meter);
        return meter;
    }

    public void Dispose() => _meters.ForEach(m => m.Dispose());
}
