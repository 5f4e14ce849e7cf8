using System.Diagnostics.Metrics;
using CircuitRelay.Tests.Infrastructure;

namespace CircuitRelay.Tests.Relay;

public sealed class MetricsTests
{
    [Fact]
    public async Task Metrics_ReservationAndCircuit_AreRecordedOnTheHostsMeterFactory()
    {
        await using var fixture = RelayFixture.CreateUnlimited();
        var totals = new Dictionary<string, long>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Scope == fixture.Meters && instrument.Name.StartsWith("libp2p.relay.server.", StringComparison.Ordinal))
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((instrument, value, _, _) =>
        {
            lock (totals)
            {
                totals[instrument.Name] = totals.GetValueOrDefault(instrument.Name) + value;
            }
        });
        listener.Start();
        var (target, circuitListener) = await fixture.CreateListenerAsync();
        var (dialer, accepted) = await fixture.ConnectAsync(fixture.CreateNode(), target, circuitListener);
        await dialer.Output.WriteAllAsync(new byte[1000]);
        await accepted.Input.ReadToEndAsync().Within();
        await accepted.Output.CompleteAsync();
        await dialer.Input.ReadToEndAsync().Within();
        await fixture.NextClosedCircuitAsync();

        lock (totals)
        {
            totals["libp2p.relay.server.reservations.active"].Should().Be(1);
            totals["libp2p.relay.server.reservations"].Should().Be(1);
            totals["libp2p.relay.server.circuits.active"].Should().Be(0, "the circuit opened and closed");
            totals["libp2p.relay.server.circuits.closed"].Should().Be(1);
            totals["libp2p.relay.server.bytes"].Should().Be(1000);
        }
    }
}
