using Microsoft.Extensions.Logging;
using CircuitRelay.Client;
using CircuitRelay.Server;
using CircuitRelay.Tests.Infrastructure;

namespace CircuitRelay.Tests.Relay;

public sealed class RenewalTests
{
    [Fact]
    public async Task Reservation_AtThreeQuartersOfTtl_RenewsItself()
    {
        await using var fixture = RelayFixture.Create();
        TestNode node = fixture.CreateNode();
        RelayReservation reservation = await node.Client.ReserveAsync(fixture.RelayId, [fixture.RelayAddress]).Within();
        var renewed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        reservation.Renewed += (_, _) => renewed.TrySetResult();
        // The relay counts a renewal once its answer is written, which may be after the client has read it.
        var counted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        fixture.Server.ReservationChanged += (_, e) =>
        {
            if (e.Kind == ReservationEventKind.Renewed)
            {
                counted.TrySetResult();
            }
        };

        fixture.Time.Advance(TimeSpan.FromMinutes(44));
        renewed.Task.IsCompleted.Should().BeFalse();
        fixture.Time.Advance(TimeSpan.FromMinutes(1));
        await renewed.Task.Within();
        await counted.Task.Within();

        reservation.Expiry.Should().Be(DateTimeOffset.FromUnixTimeSeconds((fixture.Time.GetUtcNow() + TimeSpan.FromHours(1)).ToUnixTimeSeconds()));
        reservation.IsActive.Should().BeTrue();
        fixture.Server.GetStatistics().ReservationsRenewed.Should().Be(1);
    }

    [Fact]
    public async Task DisposeAsync_RenewalInFlightToAStalledRelay_CancelsItInsteadOfWaitingItOut()
    {
        await using var fixture = RelayFixture.Create();
        TestNode node = fixture.CreateNode();
        RelayReservation reservation = await node.Client.ReserveAsync(fixture.RelayId, [fixture.RelayAddress]).Within();
        var stalled = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        fixture.RelayHost.SetStreamHandler(CircuitRelay.Protocol.RelayProtocol.Hop, async (_, cancellationToken) =>
        {
            stalled.TrySetResult();
            await Task.Delay(Timeout.Infinite, cancellationToken);
        });
        var failed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        reservation.RenewalFailed += (_, _) => failed.TrySetResult();

        fixture.Time.Advance(TimeSpan.FromMinutes(45));
        await stalled.Task.Within();
        await reservation.DisposeAsync().AsTask().Within();

        failed.Task.IsCompleted.Should().BeFalse("a cancelled renewal of a disposed reservation is no failure to report");
        node.Client.Reservations.Should().BeEmpty();
    }

    [Fact]
    public async Task Reservation_RenewalsKeepItAliveForHours()
    {
        await using var fixture = RelayFixture.Create(o => o.ReservationTtl = TimeSpan.FromMinutes(20));
        TestNode node = fixture.CreateNode();
        RelayReservation reservation = await node.Client.ReserveAsync(fixture.RelayId, [fixture.RelayAddress]).Within();
        int renewals = 0;
        var renewedOnce = new SemaphoreSlim(0);
        reservation.Renewed += (_, _) =>
        {
            Interlocked.Increment(ref renewals);
            renewedOnce.Release();
        };

        for (int i = 0; i < 8; i++)
        {
            fixture.Time.Advance(TimeSpan.FromMinutes(15));
            (await renewedOnce.WaitAsync(Bounded.Timeout)).Should().BeTrue();
        }

        renewals.Should().Be(8);
        reservation.IsActive.Should().BeTrue();
        fixture.Server.HasReservation(node.Id).Should().BeTrue();
    }

    [Fact]
    public async Task Reservation_RelayRefusesRenewals_FailsThenExpires()
    {
        await using var fixture = RelayFixture.Create(client: o => o.RenewalRetryInterval = TimeSpan.FromMinutes(5));
        TestNode node = fixture.CreateNode();
        RelayReservation reservation = await node.Client.ReserveAsync(fixture.RelayId, [fixture.RelayAddress]).Within();
        var failures = System.Threading.Channels.Channel.CreateUnbounded<ReservationRenewalFailedEventArgs>();
        var expired = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        reservation.RenewalFailed += (_, e) => failures.Writer.TryWrite(e);
        reservation.Expired += (_, _) => expired.TrySetResult();
        fixture.Server.UpdateOptions(new RelayServerOptions { AllowReservation = (_, _) => false });

        fixture.Time.Advance(TimeSpan.FromMinutes(45));
        ReservationRenewalFailedEventArgs first = await failures.Reader.ReadAsync().Within();
        first.Error.Should().BeOfType<RelayException>().Which.Status.Should().Be(RelayStatus.PermissionDenied);
        first.NextAttempt.Should().Be(fixture.Time.GetUtcNow() + TimeSpan.FromMinutes(5));

        fixture.Time.Advance(TimeSpan.FromMinutes(5));
        (await failures.Reader.ReadAsync().Within()).NextAttempt.Should().NotBeNull();
        expired.Task.IsCompleted.Should().BeFalse();
        reservation.IsActive.Should().BeTrue("it stays valid until its expiry");

        fixture.Time.Advance(TimeSpan.FromMinutes(10));
        await expired.Task.Within();
        reservation.IsActive.Should().BeFalse();
        node.Client.Reservations.Should().BeEmpty();
        fixture.Server.HasReservation(node.Id).Should().BeFalse();
        fixture.Logs.ShouldHaveLogged(RelayEvents.RenewalFailed, LogLevel.Warning).Should().HaveCount(2);
        fixture.Logs.ShouldHaveLogged(RelayEvents.ReservationRefused, LogLevel.Debug).Should().HaveCount(2, "the relay logs each refused renewal");
        fixture.Logs.ShouldHaveLoggedOnce(RelayEvents.ReservationExpired, LogLevel.Information);
    }

    [Fact]
    public async Task Reservation_RelayConnectionLost_RenewsAtOnceOverANewConnection()
    {
        await using var fixture = RelayFixture.Create();
        TestNode node = fixture.CreateNode();
        RelayReservation reservation = await node.Client.ReserveAsync(fixture.RelayId, [fixture.RelayAddress]).Within();
        var renewed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        reservation.Renewed += (_, _) => renewed.TrySetResult();

        await node.Host.DisconnectAsync(fixture.RelayId).Within();

        await renewed.Task.Within();
        node.Host.GetConnections(fixture.RelayId).Should().NotBeEmpty();
        await ListenerTests.WaitUntilAsync(() => fixture.Server.HasReservation(node.Id));
    }

    [Fact]
    public async Task RenewAsync_Explicit_RaisesRenewed()
    {
        await using var fixture = RelayFixture.Create();
        TestNode node = fixture.CreateNode();
        RelayReservation reservation = await node.Client.ReserveAsync(fixture.RelayId, [fixture.RelayAddress]).Within();
        int renewed = 0;
        reservation.Renewed += (_, _) => renewed++;
        fixture.Time.Advance(TimeSpan.FromMinutes(1));

        await reservation.RenewAsync().Within();

        renewed.Should().Be(1);
        reservation.Expiry.Should().Be(DateTimeOffset.FromUnixTimeSeconds((fixture.Time.GetUtcNow() + TimeSpan.FromHours(1)).ToUnixTimeSeconds()));
    }
}
