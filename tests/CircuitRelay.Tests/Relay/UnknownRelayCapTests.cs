using CircuitRelay.Abstractions;
using CircuitRelay.Client;
using CircuitRelay.Multiformats;
using CircuitRelay.Server;
using CircuitRelay.Tests.Infrastructure;
using Microsoft.Extensions.Logging;

namespace CircuitRelay.Tests.Relay;

/// <summary>
/// Circuits through a relay we hold no reservation with: a second relay that still holds a reservation the node
/// released on its side (the connection to it stays open), so it still offers the node circuits.
/// </summary>
public sealed class UnknownRelayCapTests : IAsyncLifetime
{
    private RelayFixture _fixture = null!;
    private RelayServer? _second;

    [Fact]
    public async Task Circuit_ThroughARelayWithoutReservation_RefusedByDefault()
    {
        _fixture = RelayFixture.Create();
        (TestNode target, TestNode secondRelay) = await ReleasedOnSecondRelayAsync();

        Func<Task> dial = () => _fixture.CreateNode().Host.DialAsync(Circuit(secondRelay, target)).AsTask();

        (await dial.Should().ThrowAsync<IOException>()).WithMessage("*NO_RESERVATION*");
        _fixture.Logs.ShouldHaveLoggedOnce(RelayEvents.StopRefused, LogLevel.Debug).GetStructuredStateValue("Status").Should().Be(nameof(RelayStatus.NoReservation));
    }

    [Fact]
    public async Task Circuit_ThroughARelayWithoutReservation_AllowedUpToTheCapThenRefused()
    {
        _fixture = RelayFixture.Create(client: o => o.UnknownRelayCap = 1);
        (TestNode target, TestNode secondRelay) = await ReleasedOnSecondRelayAsync();

        ConnectionInfo first = await _fixture.CreateNode().Host.DialAsync(Circuit(secondRelay, target)).Within();
        first.IsRelayed.Should().BeTrue();
        await ListenerTests.WaitUntilAsync(() => target.Host.Connections.Any(c => c.IsRelayed && c.Relay == secondRelay.Id));
        Func<Task> second = () => _fixture.CreateNode().Host.DialAsync(Circuit(secondRelay, target)).AsTask();

        (await second.Should().ThrowAsync<IOException>()).WithMessage("*NO_RESERVATION*");
        _fixture.Logs.Events(RelayEvents.StopRefused.Id).Should().ContainSingle().Which.Message.Should().Contain("UnknownRelayCap 1");
    }

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        if (_second is not null)
        {
            await _second.DisposeAsync().AsTask().Within();
        }

        await _fixture.DisposeAsync().AsTask().Within();
    }

    /// <summary>A target listening through the fixture's relay (a host listener), reserved on a second relay and released there on its side only.</summary>
    private async Task<(TestNode Target, TestNode SecondRelay)> ReleasedOnSecondRelayAsync()
    {
        (TestNode target, _) = await _fixture.CreateHostListenerAsync();
        TestNode secondRelay = _fixture.CreatePublicNode("192.0.2.77");
        _second = new RelayServer(secondRelay.Host, new RelayServerOptions(), _fixture.Logs.Factory, _fixture.Meters, _fixture.Time);
        _second.Start();
        RelayReservation reservation = await target.Client.ReserveAsync(secondRelay.Id, [secondRelay.Address]).Within();
        await reservation.DisposeAsync().AsTask().Within();
        target.Client.HasReservation(secondRelay.Id).Should().BeFalse();
        target.Host.GetConnections(secondRelay.Id).Should().NotBeEmpty("the relay still holds the reservation while the connection lives");
        return (target, secondRelay);
    }

    private static Multiaddr Circuit(TestNode relay, TestNode target) => Multiaddr.CreateCircuit(relay.Host.ListenAddresses[0], relay.Id, target.Id);
}
