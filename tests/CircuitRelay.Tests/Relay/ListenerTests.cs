using Microsoft.Extensions.Logging;
using CircuitRelay.Tests.Infrastructure;
using CircuitRelay.Transport;

namespace CircuitRelay.Tests.Relay;

public sealed class ListenerTests
{
    [Fact]
    public async Task ListenAsync_ReservesAndAdvertisesCircuitAddresses()
    {
        await using var fixture = RelayFixture.Create();
        var (node, listener) = await fixture.CreateListenerAsync();

        listener.Relay.Should().Be(fixture.RelayId);
        listener.ListenAddresses.Should().Equal(fixture.RelayCircuitAddress);
        listener.Reservation.IsActive.Should().BeTrue();
        fixture.Server.HasReservation(node.Id).Should().BeTrue();
    }

    [Fact]
    public async Task ListenAsync_SameRelayTwice_Throws()
    {
        await using var fixture = RelayFixture.Create();
        var (node, _) = await fixture.CreateListenerAsync();

        Func<Task> act = () => node.Transport.ListenAsync(fixture.RelayCircuitAddress);

        await act.Should().ThrowAsync<InvalidOperationException>();
    }

    [Fact]
    public async Task ListenAsync_NotACircuitAddress_ThrowsArgumentException()
    {
        await using var fixture = RelayFixture.Create();
        TestNode node = fixture.CreateNode();

        Func<Task> act = () => node.Transport.ListenAsync(fixture.RelayAddress);

        await act.Should().ThrowAsync<ArgumentException>();
        CircuitTransport.CanListen(fixture.RelayCircuitAddress).Should().BeTrue();
        CircuitTransport.CanDial(fixture.RelayCircuitAddress).Should().BeFalse();
        CircuitTransport.CanDial(fixture.CircuitAddressOf(node)).Should().BeTrue();
    }

    [Fact]
    public async Task AcceptAsync_AfterDispose_ReturnsNull()
    {
        await using var fixture = RelayFixture.Create();
        var (_, listener) = await fixture.CreateListenerAsync();

        await listener.DisposeAsync();

        (await listener.AcceptAsync().Within()).Should().BeNull();
    }

    [Fact]
    public async Task AcceptAsync_Pending_CompletesWithNullOnDispose()
    {
        await using var fixture = RelayFixture.Create();
        var (_, listener) = await fixture.CreateListenerAsync();
        Task<RelayedConnection?> pending = listener.AcceptAsync().AsTask();

        await listener.DisposeAsync();

        (await pending.Within()).Should().BeNull();
    }

    [Fact]
    public async Task DisposeAsync_Twice_IsIdempotentAndStopsRenewals()
    {
        await using var fixture = RelayFixture.Create();
        var (node, listener) = await fixture.CreateListenerAsync();

        await listener.DisposeAsync();
        await listener.DisposeAsync();

        listener.Reservation.IsActive.Should().BeFalse();
        node.Client.Reservations.Should().BeEmpty();
    }

    [Fact]
    public async Task Dispose_WithWaitingCircuits_RefusesThemWithConnectionFailed()
    {
        await using var fixture = RelayFixture.Create();
        var (target, listener) = await fixture.CreateListenerAsync();
        Task<RelayedConnection> dial = fixture.CreateNode().Transport.DialAsync(fixture.CircuitAddressOf(target));
        await WaitUntilAsync(() => listener.Backlog == 1);

        await listener.DisposeAsync();

        (await dial.Awaiting(d => d).Should().ThrowAsync<RelayException>()).Which.Status.Should().Be(RelayStatus.ConnectionFailed);
        listener.Backlog.Should().Be(0);
        fixture.Logs.ShouldHaveLoggedOnce(RelayEvents.StopRefused, LogLevel.Debug).GetStructuredStateValue("Status").Should().Be(nameof(RelayStatus.ConnectionFailed));
    }

    [Fact]
    public async Task IncomingCircuit_NotAcceptedInTime_RefusedWithConnectionFailed()
    {
        await using var fixture = RelayFixture.Create(client: o => o.AcceptTimeout = TimeSpan.FromSeconds(10));
        var (target, listener) = await fixture.CreateListenerAsync();
        Task<RelayedConnection> dial = fixture.CreateNode().Transport.DialAsync(fixture.CircuitAddressOf(target));
        await WaitUntilAsync(() => listener.Backlog == 1);

        // Backlog 1 means the accept timer is armed: the stop handler arms it before it queues the circuit.
        fixture.Time.Advance(TimeSpan.FromSeconds(10));

        (await dial.Awaiting(d => d.Within()).Should().ThrowAsync<RelayException>()).Which.Status.Should().Be(RelayStatus.ConnectionFailed);
        listener.Backlog.Should().Be(0);

        // The listener still works afterwards.
        var (dialer, accepted) = await fixture.ConnectAsync(fixture.CreateNode(), target, listener);
        await dialer.DisposeAsync();
        await accepted.DisposeAsync();
    }

    [Fact]
    public async Task IncomingCircuit_BacklogFull_RefusedWithResourceLimitExceeded()
    {
        await using var fixture = RelayFixture.Create(client: o => o.AcceptBacklog = 2);
        var (target, listener) = await fixture.CreateListenerAsync();
        Task<RelayedConnection> first = fixture.CreateNode().Transport.DialAsync(fixture.CircuitAddressOf(target));
        Task<RelayedConnection> second = fixture.CreateNode().Transport.DialAsync(fixture.CircuitAddressOf(target));
        await WaitUntilAsync(() => listener.Backlog == 2);

        Func<Task> third = () => fixture.CreateNode().Transport.DialAsync(fixture.CircuitAddressOf(target));

        (await third.Should().ThrowAsync<RelayException>()).Which.Status.Should().Be(RelayStatus.ResourceLimitExceeded);
        fixture.Logs.ShouldHaveLoggedOnce(RelayEvents.StopRefused, LogLevel.Debug).GetStructuredStateValue("Status").Should().Be(nameof(RelayStatus.ResourceLimitExceeded));
        fixture.Logs.ShouldHaveLoggedOnce(RelayEvents.ConnectRefused, LogLevel.Debug).GetStructuredStateValue("Status").Should().Be(nameof(RelayStatus.ResourceLimitExceeded));
        (await listener.AcceptAsync().Within()).Should().NotBeNull();
        (await listener.AcceptAsync().Within()).Should().NotBeNull();
        await Task.WhenAll(first, second).Within();
    }

    /// <summary>Waits for a condition that the code under test reaches asynchronously (bounded, no fixed sleeps).</summary>
    internal static async Task WaitUntilAsync(Func<bool> condition)
    {
        using var cts = new CancellationTokenSource(Bounded.Timeout);
        while (!condition())
        {
            await Task.Yield();
            cts.Token.ThrowIfCancellationRequested();
        }
    }
}
