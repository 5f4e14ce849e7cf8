// The packaging test's consumer: built by a scratch project outside the repository that references the CircuitRelay
// packages by version (see PackageConsumerTests). Two reference hosts over loopback TCP with Noise and Yamux: one runs a
// relay, the other reserves a slot on it. Prints "reserved <expiry> <relay peer id>" and exits 0, or prints the error
// and exits 1. Loopback only.
using System.Diagnostics.Metrics;
using CircuitRelay.Client;
using CircuitRelay.Crypto;
using CircuitRelay.ReferenceHost;
using CircuitRelay.Server;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
ILoggerFactory logs = NullLoggerFactory.Instance;
using var meters = new ConsumerMeterFactory();
TimeProvider time = TimeProvider.System;

try
{
    using var relayKey = KeyIdentity.Generate();
    var relayOptions = new Libp2pHostOptions();
    relayOptions.ListenAddresses.Add("/ip4/127.0.0.1/tcp/0");
    await using Libp2pHost relayHost = await Libp2pHost.StartAsync(relayKey, relayOptions, logs, time, timeout.Token);
    await using var relay = new RelayServer(relayHost, new RelayServerOptions(), logs, meters, time);
    relay.Start();
    Console.WriteLine($"relay {relayHost.Addresses[0]}/p2p/{relayHost.Identity.PeerId}");

    using var clientKey = KeyIdentity.Generate();
    await using Libp2pHost clientHost = await Libp2pHost.StartAsync(clientKey, new Libp2pHostOptions(), logs, time, timeout.Token);
    await using var client = new RelayClient(clientHost, new RelayClientOptions(), logs, meters, time);
    client.Start();

    RelayReservation reservation = await client.ReserveAsync(relayHost.Identity.PeerId, relayHost.Addresses, timeout.Token);
    Console.WriteLine($"reserved {reservation.Expiry:O} {reservation.Voucher?.Relay}");
    await reservation.DisposeAsync();
    return 0;
}
catch (Exception ex) when (ex is IOException or OperationCanceledException)
{
    Console.WriteLine($"error {ex}");
    return 1;
}

internal sealed class ConsumerMeterFactory : IMeterFactory
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
