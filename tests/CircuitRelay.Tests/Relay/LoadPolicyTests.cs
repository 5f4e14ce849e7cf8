using CircuitRelay.Client;
using CircuitRelay.Server;
using CircuitRelay.Tests.Infrastructure;
using CircuitRelay.Transport;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;

namespace CircuitRelay.Tests.Relay;

/// <summary>Limits that adapt to load: the watermark policy alone, and the relay applying a policy's levels.</summary>
public sealed class LoadPolicyTests
{
    [Fact]
    public void Watermarks_CircuitsRiseAndFall_TightenRefuseAndRelaxWithHysteresis()
    {
        var policy = new WatermarkLoadPolicy();

        RelayLoadLevel[] levels = [.. new[] { 0, 74, 75, 94, 95, 90, 80, 70, 60 }.Select(circuits => policy.Evaluate(new RelayLoad(circuits, 100, 0, 0)))];

        levels.Should().Equal(
            RelayLoadLevel.Normal, RelayLoadLevel.Normal, RelayLoadLevel.Tight, RelayLoadLevel.Tight, RelayLoadLevel.Refusing,
            RelayLoadLevel.Refusing, // 90 % is within 10 % of the 95 % watermark: still refusing
            RelayLoadLevel.Tight,
            RelayLoadLevel.Tight, // 70 % is within 10 % of the 75 % watermark: still tight
            RelayLoadLevel.Normal);
    }

    [Fact]
    public void Watermarks_LoadHoveringAtAWatermark_DoesNotOscillate()
    {
        var policy = new WatermarkLoadPolicy();

        RelayLoadLevel[] levels = [.. Enumerable.Range(0, 20).Select(i => policy.Evaluate(new RelayLoad(i % 2 == 0 ? 76 : 74, 100, 0, 0)))];

        levels.Should().AllBeEquivalentTo(RelayLoadLevel.Tight);
    }

    [Fact]
    public void Watermarks_BandwidthAndMemory_CountWhenSet()
    {
        var policy = new WatermarkLoadPolicy { BytesPerSecondTight = 1_000_000, BytesPerSecondRefuse = 2_000_000, MemoryRefuse = 512L << 20 };

        policy.Evaluate(new RelayLoad(0, 100, 1_500_000, 0)).Should().Be(RelayLoadLevel.Tight);
        policy.Evaluate(new RelayLoad(0, 100, 0, 600L << 20)).Should().Be(RelayLoadLevel.Refusing);
        policy.Evaluate(new RelayLoad(0, 100, 0, 100L << 20)).Should().Be(RelayLoadLevel.Normal);
        policy.WatchesMemory.Should().BeTrue();
    }

    [Fact]
    public async Task Relay_TightLevel_NewReservationAndCircuitGetScaledTtlAndLimits()
    {
        var policy = new FixedPolicy { Level = RelayLoadLevel.Tight };
        await using var fixture = RelayFixture.Create(o => o.LoadPolicy = policy);

        RelayReservation reservation = await fixture.CreateNode().Client.ReserveAsync(fixture.RelayId, [fixture.RelayAddress]).Within();

        reservation.Expiry.Should().Be(DateTimeOffset.FromUnixTimeSeconds((fixture.Time.GetUtcNow() + TimeSpan.FromMinutes(30)).ToUnixTimeSeconds()), "the TTL is halved");
        reservation.Limit.Should().Be(new RelayLimit(TimeSpan.FromMinutes(1), 64 * 1024));
        var (target, listener) = await fixture.CreateListenerAsync();
        var (dialer, _) = await fixture.ConnectAsync(fixture.CreateNode(), target, listener);
        dialer.Limit.Should().Be(new RelayLimit(TimeSpan.FromMinutes(1), 64 * 1024));
        fixture.Server.GetStatistics().LoadLevel.Should().Be(RelayLoadLevel.Tight);
    }

    [Fact]
    public async Task Relay_RefusingLevel_RefusesNewRequestsButRenewsAndKeepsRunningCircuits()
    {
        var policy = new FixedPolicy();
        await using var fixture = RelayFixture.Create(o =>
        {
            o.LoadPolicy = policy;
            o.CircuitDataLimit = 0;
            o.CircuitDurationLimit = TimeSpan.Zero;
        });
        var (target, listener) = await fixture.CreateListenerAsync();
        var (dialer, accepted) = await fixture.ConnectAsync(fixture.CreateNode(), target, listener);
        using MetricCollector<int> level = fixture.Meters.Collect<int>("CircuitRelay", "libp2p.relay.server.load.level");
        policy.Level = RelayLoadLevel.Refusing;

        Func<Task> reserve = () => fixture.CreateNode().Client.ReserveAsync(fixture.RelayId, [fixture.RelayAddress]);
        Func<Task> connect = () => fixture.CreateNode().Transport.DialAsync(fixture.CircuitAddressOf(target));

        (await reserve.Should().ThrowAsync<RelayException>()).Which.Status.Should().Be(RelayStatus.ResourceLimitExceeded);
        (await connect.Should().ThrowAsync<RelayException>()).Which.Status.Should().Be(RelayStatus.ResourceLimitExceeded);
        await listener.Reservation.RenewAsync().Within();
        listener.Reservation.IsActive.Should().BeTrue("a held reservation is renewed while new ones are refused");
        await dialer.Output.WriteAsync(new byte[] { 7 }).Within();
        (await accepted.Input.ReadAsync().Within()).Buffer.FirstSpan[0].Should().Be(7, "a running circuit keeps going");
        level.RecordObservableInstruments();
        level.LastMeasurement!.Value.Should().Be((int)RelayLoadLevel.Refusing);
        fixture.Logs.Events(110).Should().NotBeEmpty("the change of level is logged");
    }

    [Fact]
    public async Task Relay_DefaultWatermarks_ThirdOfFourCircuitsIsTightAndTheFourthRefused()
    {
        await using var fixture = RelayFixture.Create(o =>
        {
            o.MaxCircuits = 4;
            o.LoadPolicy = new WatermarkLoadPolicy { CircuitsTight = 0.5, CircuitsRefuse = 0.75 };
        });
        var (target, listener) = await fixture.CreateListenerAsync();
        var limits = new List<RelayLimit?>();
        for (int i = 0; i < 3; i++)
        {
            var (dialer, _) = await fixture.ConnectAsync(fixture.CreateNode(), target, listener);
            limits.Add(dialer.Limit);
        }

        Func<Task> fourth = () => fixture.CreateNode().Transport.DialAsync(fixture.CircuitAddressOf(target));

        limits.Should().Equal(new RelayLimit(TimeSpan.FromMinutes(2), 128 * 1024), new RelayLimit(TimeSpan.FromMinutes(2), 128 * 1024), new RelayLimit(TimeSpan.FromMinutes(1), 64 * 1024));
        (await fourth.Should().ThrowAsync<RelayException>()).Which.Status.Should().Be(RelayStatus.ResourceLimitExceeded);
    }

    [Fact]
    public void Validate_TightFactorOutOfRange_NamesIt()
    {
        Action validate = () => new RelayServerOptions { LoadTightFactor = 0 }.Validate();

        validate.Should().Throw<ArgumentException>().WithMessage("*LoadTightFactor*");
    }

    /// <summary>A policy whose level the test sets.</summary>
    private sealed class FixedPolicy : IRelayLoadPolicy
    {
        public RelayLoadLevel Level { get; set; }

        public RelayLoadLevel Evaluate(RelayLoad load) => Level;
    }
}
