using Microsoft.Extensions.Logging;
using CircuitRelay.Client;
using CircuitRelay.Server;
using CircuitRelay.Tests.Infrastructure;

namespace CircuitRelay.Tests.Relay;

public sealed class ReservationTests
{
    [Fact]
    public async Task Reservation_HolderIsProtectedFromIdleTrimmingWhileItLasts()
    {
        await using var fixture = RelayFixture.Create();
        TestNode holder = fixture.CreateNode();
        TestNode other = fixture.CreateNode();
        await other.Host.DialAsync(fixture.RelayAddress).Within();

        RelayReservation reservation = await holder.Client.ReserveAsync(fixture.RelayId, [fixture.RelayAddress]).Within();

        fixture.RelayHost.IsProtected(holder.Id).Should().BeTrue("a reservation's connection carries no stream between renewals, yet must stay");
        fixture.RelayHost.IsProtected(other.Id).Should().BeFalse();
        await reservation.DisposeAsync();
        await RelayFixture.DisconnectAsync(holder, fixture.RelayId);
        await ListenerTests.WaitUntilAsync(() => !fixture.Server.HasReservation(holder.Id));
        fixture.RelayHost.IsProtected(holder.Id).Should().BeFalse("the protection ends with the reservation");
    }

    [Fact]
    public async Task ReserveAsync_OnRelay_ReturnsAddressesVoucherAndLimit()
    {
        await using var fixture = RelayFixture.Create();
        TestNode node = fixture.CreateNode();

        RelayReservation reservation = await node.Client.ReserveAsync(fixture.RelayId, [fixture.RelayAddress]).Within();

        reservation.Relay.Should().Be(fixture.RelayId);
        reservation.Expiry.Should().Be(DateTimeOffset.FromUnixTimeSeconds((fixture.Time.GetUtcNow() + TimeSpan.FromHours(1)).ToUnixTimeSeconds()));
        reservation.Addresses.Should().Equal(fixture.RelayAddress);
        reservation.CircuitAddresses.Should().Equal(fixture.RelayCircuitAddress);
        reservation.Limit.Should().Be(new RelayLimit(TimeSpan.FromMinutes(2), 128 * 1024));
        reservation.Voucher.Should().NotBeNull();
        reservation.Voucher!.Relay.Should().Be(fixture.RelayId);
        reservation.Voucher.Peer.Should().Be(node.Id);
        reservation.Voucher.Expiration.Should().Be(reservation.Expiry);
        fixture.Server.HasReservation(node.Id).Should().BeTrue();
        fixture.Server.GetStatistics().ActiveReservations.Should().Be(1);
    }

    [Fact]
    public async Task ReserveAsync_UnlimitedRelay_ReservationHasNoLimit()
    {
        await using var fixture = RelayFixture.CreateUnlimited();
        TestNode node = fixture.CreateNode();

        RelayReservation reservation = await node.Client.ReserveAsync(fixture.RelayId, [fixture.RelayAddress]).Within();

        reservation.Limit.Should().BeNull();
    }

    [Fact]
    public async Task ReserveAsync_Twice_RenewsTheSameReservation()
    {
        await using var fixture = RelayFixture.Create();
        TestNode node = fixture.CreateNode();
        RelayReservation first = await node.Client.ReserveAsync(fixture.RelayId, [fixture.RelayAddress]).Within();
        fixture.Time.Advance(TimeSpan.FromMinutes(10));

        RelayReservation second = await node.Client.ReserveAsync(fixture.RelayId, [fixture.RelayAddress]).Within();

        second.Should().BeSameAs(first);
        second.Expiry.Should().Be(DateTimeOffset.FromUnixTimeSeconds((fixture.Time.GetUtcNow() + TimeSpan.FromHours(1)).ToUnixTimeSeconds()));

        // The relay counts a grant once its answer is written, which may be after the client has read it.
        await ListenerTests.WaitUntilAsync(() => fixture.Server.GetStatistics().ReservationsRenewed == 1);
        RelayServerStatistics stats = fixture.Server.GetStatistics();
        stats.ActiveReservations.Should().Be(1);
        stats.ReservationsAccepted.Should().Be(1);
        stats.ReservationsRenewed.Should().Be(1);
    }

    [Fact]
    public async Task ReserveAsync_RelayFull_ThrowsReservationRefused()
    {
        await using var fixture = RelayFixture.Create(o => o.MaxReservations = 1);
        await fixture.CreateNode().Client.ReserveAsync(fixture.RelayId, [fixture.RelayAddress]).Within();

        Func<Task> act = () => fixture.CreateNode().Client.ReserveAsync(fixture.RelayId, [fixture.RelayAddress]);

        (await act.Should().ThrowAsync<RelayException>()).Which.Status.Should().Be(RelayStatus.ReservationRefused);
        fixture.Server.GetStatistics().ActiveReservations.Should().Be(1);
        fixture.Logs.ShouldHaveLoggedOnce(RelayEvents.ReservationRefused, LogLevel.Debug).GetStructuredStateValue("Status").Should().Be(nameof(RelayStatus.ReservationRefused));
    }

    [Fact]
    public async Task ReserveAsync_TooManyFromOneIp_ThrowsReservationRefused()
    {
        await using var fixture = RelayFixture.Create(o => o.MaxReservationsPerIp = 2);
        await fixture.CreateNode("203.0.113.7").Client.ReserveAsync(fixture.RelayId, [fixture.RelayAddress]).Within();
        await fixture.CreateNode("203.0.113.7").Client.ReserveAsync(fixture.RelayId, [fixture.RelayAddress]).Within();

        Func<Task> sameIp = () => fixture.CreateNode("203.0.113.7").Client.ReserveAsync(fixture.RelayId, [fixture.RelayAddress]);
        (await sameIp.Should().ThrowAsync<RelayException>()).Which.Status.Should().Be(RelayStatus.ReservationRefused);

        // Another address is still welcome.
        await fixture.CreateNode("203.0.113.8").Client.ReserveAsync(fixture.RelayId, [fixture.RelayAddress]).Within();
        fixture.Server.GetStatistics().ActiveReservations.Should().Be(3);
    }

    [Fact]
    public async Task ReserveAsync_TooManyFromOneAsn_ThrowsReservationRefused()
    {
        await using var fixture = RelayFixture.Create(o =>
        {
            o.MaxReservationsPerAsn = 1;
            o.AsnResolver = ip => ip.ToString().StartsWith("203.0.113.", StringComparison.Ordinal) ? 64500u : null;
        });
        await fixture.CreateNode("203.0.113.1").Client.ReserveAsync(fixture.RelayId, [fixture.RelayAddress]).Within();

        Func<Task> sameAsn = () => fixture.CreateNode("203.0.113.2").Client.ReserveAsync(fixture.RelayId, [fixture.RelayAddress]);

        (await sameAsn.Should().ThrowAsync<RelayException>()).Which.Status.Should().Be(RelayStatus.ReservationRefused);
        await fixture.CreateNode("192.0.2.1").Client.ReserveAsync(fixture.RelayId, [fixture.RelayAddress]).Within();
    }

    [Fact]
    public async Task ReserveAsync_AclRefuses_ThrowsPermissionDenied()
    {
        await using var fixture = RelayFixture.Create(o => o.AllowReservation = (_, _) => false);
        TestNode node = fixture.CreateNode();

        Func<Task> act = () => node.Client.ReserveAsync(fixture.RelayId, [fixture.RelayAddress]);

        (await act.Should().ThrowAsync<RelayException>()).Which.Status.Should().Be(RelayStatus.PermissionDenied);
        fixture.Server.GetStatistics().ReservationsRefused.Should().Be(1);
        fixture.Logs.ShouldHaveLoggedOnce(RelayEvents.ReservationRefused, LogLevel.Debug).GetStructuredStateValue("Status").Should().Be(nameof(RelayStatus.PermissionDenied));
    }

    [Fact]
    public async Task ReserveAsync_PeerRateLimited_ThrowsResourceLimitExceededUntilRefill()
    {
        await using var fixture = RelayFixture.Create(o => o.ReservationRateLimitPerPeer = new RateLimitOptions { Permits = 2, Period = TimeSpan.FromMinutes(1) });
        TestNode node = fixture.CreateNode();
        await node.Client.ReserveAsync(fixture.RelayId, [fixture.RelayAddress]).Within();
        await node.Client.ReserveAsync(fixture.RelayId, [fixture.RelayAddress]).Within();

        Func<Task> third = () => node.Client.ReserveAsync(fixture.RelayId, [fixture.RelayAddress]);
        (await third.Should().ThrowAsync<RelayException>()).Which.Status.Should().Be(RelayStatus.ResourceLimitExceeded);

        fixture.Time.Advance(TimeSpan.FromSeconds(30));
        await node.Client.ReserveAsync(fixture.RelayId, [fixture.RelayAddress]).Within();
    }

    [Fact]
    public async Task ReserveAsync_IpRateLimited_ThrowsResourceLimitExceeded()
    {
        await using var fixture = RelayFixture.Create(o => o.ReservationRateLimitPerIp = new RateLimitOptions { Permits = 1, Period = TimeSpan.FromMinutes(1) });
        await fixture.CreateNode("203.0.113.9").Client.ReserveAsync(fixture.RelayId, [fixture.RelayAddress]).Within();

        Func<Task> act = () => fixture.CreateNode("203.0.113.9").Client.ReserveAsync(fixture.RelayId, [fixture.RelayAddress]);

        (await act.Should().ThrowAsync<RelayException>()).Which.Status.Should().Be(RelayStatus.ResourceLimitExceeded);
    }

    [Fact]
    public async Task Reservation_PeerDisconnects_RelayDropsIt()
    {
        await using var fixture = RelayFixture.Create();
        TestNode node = fixture.CreateNode();
        RelayReservation reservation = await node.Client.ReserveAsync(fixture.RelayId, [fixture.RelayAddress]).Within();
        await reservation.DisposeAsync(); // otherwise the client renews over a new connection at once
        var dropped = new TaskCompletionSource<RelayReservationEventArgs>(TaskCreationOptions.RunContinuationsAsynchronously);
        fixture.Server.ReservationChanged += (_, e) =>
        {
            if (e.Kind == ReservationEventKind.Disconnected)
            {
                dropped.TrySetResult(e);
            }
        };

        await node.Host.DisconnectAsync(fixture.RelayId).Within();

        (await dropped.Task.Within()).Peer.Should().Be(node.Id);
        fixture.Server.HasReservation(node.Id).Should().BeFalse();
        fixture.Server.GetStatistics().ActiveReservations.Should().Be(0);
    }

    [Fact]
    public async Task Reservation_NotRenewed_ExpiresOnTheRelay()
    {
        await using var fixture = RelayFixture.Create(o => o.ReservationTtl = TimeSpan.FromMinutes(10));
        TestNode node = fixture.CreateNode();
        RelayReservation reservation = await node.Client.ReserveAsync(fixture.RelayId, [fixture.RelayAddress]).Within();
        await reservation.DisposeAsync(); // stop renewing
        var expired = new TaskCompletionSource<RelayReservationEventArgs>(TaskCreationOptions.RunContinuationsAsynchronously);
        fixture.Server.ReservationChanged += (_, e) =>
        {
            if (e.Kind == ReservationEventKind.Expired)
            {
                expired.TrySetResult(e);
            }
        };

        fixture.Time.Advance(TimeSpan.FromMinutes(10));

        (await expired.Task.Within()).Peer.Should().Be(node.Id);
        RelayServerStatistics stats = fixture.Server.GetStatistics();
        stats.ActiveReservations.Should().Be(0);
        stats.ReservationsExpired.Should().Be(1);
    }

    [Fact]
    public async Task ReserveAsync_AddressFilter_AppliesToReservationAddresses()
    {
        await using var fixture = RelayFixture.Create(o => o.AddressFilter = a => !a.ToString().Contains("/ip4/198.51.100.1/", StringComparison.Ordinal));
        fixture.RelayHost.AddExternalAddress(Multiaddr.Parse("/dns4/relay.example.com/tcp/4001"));
        TestNode node = fixture.CreateNode();

        RelayReservation reservation = await node.Client.ReserveAsync(fixture.RelayId, [fixture.RelayAddress]).Within();

        reservation.Addresses.Should().Equal(Multiaddr.Parse("/dns4/relay.example.com/tcp/4001").WithPeerId(fixture.RelayId));
    }

    [Fact]
    public async Task UpdateOptions_AtRunTime_AppliesToNewRequests()
    {
        await using var fixture = RelayFixture.Create();
        await fixture.CreateNode().Client.ReserveAsync(fixture.RelayId, [fixture.RelayAddress]).Within();

        fixture.Server.UpdateOptions(new RelayServerOptions { MaxReservations = 1, CircuitDataLimit = 1000 });

        Func<Task> act = () => fixture.CreateNode().Client.ReserveAsync(fixture.RelayId, [fixture.RelayAddress]);
        (await act.Should().ThrowAsync<RelayException>()).Which.Status.Should().Be(RelayStatus.ReservationRefused);
        fixture.Server.Options.CircuitDataLimit.Should().Be(1000);
    }

    [Fact]
    public void Options_Invalid_Throw()
    {
        var options = new RelayServerOptions { CircuitDurationLimit = TimeSpan.FromMilliseconds(1500) };

        Action act = options.Validate;

        act.Should().Throw<ArgumentException>().WithMessage("*whole seconds*");
    }
}
