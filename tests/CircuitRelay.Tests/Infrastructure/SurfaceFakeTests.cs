using CircuitRelay.Client;
using CircuitRelay.Server;
using CircuitRelay.Transport;
using Microsoft.Extensions.Logging.Abstractions;

namespace CircuitRelay.Tests.Infrastructure;

/// <summary>
/// RelayServer, RelayClient and the circuit transport on <see cref="SurfaceFakeHost"/>: a host with nothing but the
/// <see cref="Abstractions.ILibp2pHost"/> surface (no muxer, no transport, no feature interface) is enough for the core.
/// </summary>
public sealed class SurfaceFakeTests : IAsyncLifetime
{
    private readonly SurfaceFakeNetwork _network = new();
    private readonly ManualTimeProvider _time = new();
    private readonly TestMeterFactory _meters = new();
    private readonly List<IAsyncDisposable> _owned = [];
    private SurfaceFakeHost _relayHost = null!;
    private RelayServer _server = null!;

    public Task InitializeAsync()
    {
        _relayHost = _network.CreateHost();
        _server = new RelayServer(_relayHost, new RelayServerOptions { CircuitDataLimit = 0, CircuitDurationLimit = TimeSpan.Zero }, NullLoggerFactory.Instance, _meters, _time);
        _server.Start();
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        for (int i = _owned.Count - 1; i >= 0; i--)
        {
            await _owned[i].DisposeAsync();
        }

        await _server.DisposeAsync();
        _network.Dispose();
        _meters.Dispose();
    }

    [Fact]
    public async Task ReserveAsync_OnTheSurfaceFake_ReturnsTheRelaysAddressesAndVoucher()
    {
        (SurfaceFakeHost host, RelayClient client, _) = CreateClient();

        RelayReservation reservation = await client.ReserveAsync(_relayHost.Id, [RelayAddress]).Within();

        reservation.Addresses.Should().Equal(RelayAddress);
        reservation.Voucher!.Peer.Should().Be(host.Id);
        _server.HasReservation(host.Id).Should().BeTrue();
    }

    [Fact]
    public async Task DialAsync_OnTheSurfaceFake_ConnectsThroughTheRelay()
    {
        (SurfaceFakeHost target, _, CircuitTransport targetTransport) = CreateClient();
        CircuitListener listener = await targetTransport.ListenAsync(RelayAddress.Encapsulate("/p2p-circuit")).Within();
        _owned.Add(listener);
        (SurfaceFakeHost source, _, CircuitTransport sourceTransport) = CreateClient();
        Task<RelayedConnection?> accept = listener.AcceptAsync().AsTask();

        await using RelayedConnection dialer = await sourceTransport.DialAsync(Multiaddr.CreateCircuit(_relayHost.Addresses[0], _relayHost.Id, target.Id)).Within();
        await using RelayedConnection? accepted = await accept.Within();

        dialer.RemotePeer.Should().Be(target.Id);
        accepted!.RemotePeer.Should().Be(source.Id);
        _server.GetStatistics().ActiveCircuits.Should().Be(1);
    }

    [Fact]
    public async Task RelayedEcho_OnTheSurfaceFake_IsByteExactBothWays()
    {
        (SurfaceFakeHost target, _, CircuitTransport targetTransport) = CreateClient();
        CircuitListener listener = await targetTransport.ListenAsync(RelayAddress.Encapsulate("/p2p-circuit")).Within();
        _owned.Add(listener);
        (_, _, CircuitTransport sourceTransport) = CreateClient();
        Task<RelayedConnection?> accept = listener.AcceptAsync().AsTask();
        RelayedConnection dialer = await sourceTransport.DialAsync(Multiaddr.CreateCircuit(_relayHost.Addresses[0], _relayHost.Id, target.Id)).Within();
        RelayedConnection accepted = (await accept.Within())!;
        Task echo = EchoAsync(accepted);
        byte[] payload = RandomBytes(1024 * 1024 + 7, seed: 11);

        Task send = dialer.Output.WriteAllAsync(payload);
        byte[] echoed = await dialer.Input.ReadToEndAsync().Within();
        await send.Within();
        await echo.Within();

        echoed.Should().Equal(payload);
        await dialer.DisposeAsync();
        await accepted.DisposeAsync();
    }

    private Multiaddr RelayAddress => _relayHost.Addresses[0].WithPeerId(_relayHost.Id);

    private static async Task EchoAsync(RelayedConnection connection)
    {
        while (true)
        {
            System.IO.Pipelines.ReadResult result = await connection.Input.ReadAsync();
            foreach (ReadOnlyMemory<byte> segment in result.Buffer)
            {
                await connection.Output.WriteAsync(segment);
            }

            connection.Input.AdvanceTo(result.Buffer.End);
            if (result.IsCompleted)
            {
                await connection.Output.CompleteAsync();
                return;
            }
        }
    }

    private (SurfaceFakeHost Host, RelayClient Client, CircuitTransport Transport) CreateClient()
    {
        SurfaceFakeHost host = _network.CreateHost();
        var client = new RelayClient(host, new RelayClientOptions(), NullLoggerFactory.Instance, _meters, _time);
        client.Start();
        _owned.Add(client);
        return (host, client, new CircuitTransport(client));
    }
}
