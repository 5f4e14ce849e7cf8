using CircuitRelay.Tests.Infrastructure;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;

namespace CircuitRelay.Tests.Relay;

public sealed class MetricsTests
{
    private const string Meter = "CircuitRelay";

    [Fact]
    public async Task Metrics_ReservationAndCircuit_AreRecordedOnTheHostsMeterFactory()
    {
        await using var fixture = RelayFixture.CreateUnlimited();
        using MetricCollector<long> activeReservations = fixture.Meters.Collect<long>(Meter, "libp2p.relay.server.reservations.active");
        using MetricCollector<long> reservations = fixture.Meters.Collect<long>(Meter, "libp2p.relay.server.reservations");
        using MetricCollector<long> activeCircuits = fixture.Meters.Collect<long>(Meter, "libp2p.relay.server.circuits.active");
        using MetricCollector<long> closed = fixture.Meters.Collect<long>(Meter, "libp2p.relay.server.circuits.closed");
        using MetricCollector<long> bytes = fixture.Meters.Collect<long>(Meter, "libp2p.relay.server.bytes");

        await RelayOneCircuitAsync(fixture, toTarget: 1000, toSource: 0);

        activeReservations.GetMeasurementSnapshot().EvaluateAsCounter().Should().Be(1);
        reservations.GetMeasurementSnapshot().EvaluateAsCounter().Should().Be(1);
        activeCircuits.GetMeasurementSnapshot().EvaluateAsCounter().Should().Be(0, "the circuit opened and closed");
        closed.GetMeasurementSnapshot().EvaluateAsCounter().Should().Be(1);
        bytes.GetMeasurementSnapshot().EvaluateAsCounter().Should().Be(1000);
    }

    [Fact]
    public async Task BytesRelayed_BothWays_TaggedByDirection()
    {
        await using var fixture = RelayFixture.CreateUnlimited();
        using MetricCollector<long> bytes = fixture.Meters.Collect<long>(Meter, "libp2p.relay.server.bytes");

        await RelayOneCircuitAsync(fixture, toTarget: 1000, toSource: 300);

        IReadOnlyList<CollectedMeasurement<long>> measurements = bytes.GetMeasurementSnapshot();
        measurements.ContainsTags(new KeyValuePair<string, object?>("direction", "to_target")).EvaluateAsCounter().Should().Be(1000);
        measurements.ContainsTags(new KeyValuePair<string, object?>("direction", "to_source")).EvaluateAsCounter().Should().Be(300);
    }

    [Fact]
    public async Task Reservations_Accepted_TaggedWithTheOutcome()
    {
        await using var fixture = RelayFixture.CreateUnlimited();
        using MetricCollector<long> reservations = fixture.Meters.Collect<long>(Meter, "libp2p.relay.server.reservations");

        await fixture.CreateListenerAsync();

        reservations.LastMeasurement.Should().NotBeNull();
        reservations.LastMeasurement!.Value.Should().Be(1);
        reservations.LastMeasurement.Tags.Should().Contain("outcome", "accepted");
    }

    [Fact]
    public async Task Metrics_OfAnotherMeterFactory_AreNotSeen()
    {
        await using var fixture = RelayFixture.CreateUnlimited();
        using var other = new TestMeterFactory();
        using MetricCollector<long> elsewhere = other.Collect<long>(Meter, "libp2p.relay.server.reservations");

        await fixture.CreateListenerAsync();

        elsewhere.GetMeasurementSnapshot().Should().BeEmpty("a collector sees only the meters of its own factory");
    }

    private static async Task RelayOneCircuitAsync(RelayFixture fixture, int toTarget, int toSource)
    {
        var (target, circuitListener) = await fixture.CreateListenerAsync();
        var (dialer, accepted) = await fixture.ConnectAsync(fixture.CreateNode(), target, circuitListener);
        await dialer.Output.WriteAllAsync(new byte[toTarget]).Within();
        (await accepted.Input.ReadToEndAsync().Within()).Should().HaveCount(toTarget);
        await accepted.Output.WriteAllAsync(new byte[toSource]).Within();
        (await dialer.Input.ReadToEndAsync().Within()).Should().HaveCount(toSource);
        await fixture.NextClosedCircuitAsync();
    }
}
