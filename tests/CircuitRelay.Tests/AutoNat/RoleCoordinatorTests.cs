using System.Security.Cryptography;
using CircuitRelay.Adverts;
using CircuitRelay.AutoNat;
using CircuitRelay.AutoRelay;
using CircuitRelay.Client;
using CircuitRelay.Server;
using CircuitRelay.Tests.Infrastructure;
using CircuitRelay.Transport;

namespace CircuitRelay.Tests.AutoNat;

/// <summary>
/// Role changes of a node on the memory transport: it reserves through the fixture's relay while private and serves as
/// a relay while public, with a circuit through it carrying data the whole time.
/// </summary>
public sealed class RoleCoordinatorTests : IAsyncLifetime
{
    private readonly RelayFixture _fixture = RelayFixture.Create();
    private TestNode _node = null!;
    private AutoRelayService _worker = null!;
    private RoleCoordinator _coordinator = null!;

    [Fact]
    public async Task RoleChanges_UnderLoad_NoCircuitCutNoReservationLeakedAndNewReservationsOnlyWhilePublic()
    {
        var roles = new List<RoleAppliedEventArgs>();
        _coordinator.RoleApplied += (_, e) => roles.Add(e);
        await ApplyPrivateAsync();
        _coordinator.Relay.Should().BeNull("a node that never was public never served");

        await _coordinator.ApplyAsync(NodeRole.Public).Within();
        _node.Client.Reservations.Should().BeEmpty("a public node releases its reservations");
        _coordinator.AdvertPublisher!.Current.Should().NotBeNull("a public node publishes its relay advert");

        // Load: a circuit through the node, from a dialer to a peer reserved on it.
        TestNode target = _fixture.CreateNode();
        await target.Client.ReserveAsync(_node.Id, [_node.Address]).Within();
        CircuitListener listener = await target.Transport.ListenAsync(_node.Address.Encapsulate("/p2p-circuit")).Within();
        _fixture.Own(listener);
        Task<RelayedConnection?> accept = listener.AcceptAsync().AsTask();
        RelayedConnection dialer = await _fixture.CreateNode().Transport.DialAsync(Multiaddr.CreateCircuit(_node.Host.ListenAddresses[0], _node.Id, target.Id)).Within();
        RelayedConnection accepted = (await accept.Within())!;
        using var sent = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        using var received = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        long total = 0;

        for (int flip = 0; flip < 4; flip++)
        {
            await SendAsync(dialer, accepted, sent, received, () => total += 64 * 1024);

            await ApplyPrivateAsync();
            _node.Client.Reservations.Should().ContainSingle("one reservation through the fixture's relay, none leaked from earlier rounds");
            await SendAsync(dialer, accepted, sent, received, () => total += 64 * 1024);
            Func<Task> newcomer = () => _fixture.CreateNode().Client.ReserveAsync(_node.Id, [_node.Address]);
            (await newcomer.Should().ThrowAsync<RelayException>()).Which.Status.Should().Be(RelayStatus.ReservationRefused);
            Func<Task> renewal = () => target.Client.ReserveAsync(_node.Id, [_node.Address]);
            (await renewal.Should().ThrowAsync<RelayException>()).Which.Status.Should().Be(RelayStatus.ReservationRefused, "renewals are refused too, so holders move on");
            _coordinator.AdvertPublisher.Should().BeNull("the advert is withdrawn");

            await _coordinator.ApplyAsync(NodeRole.Public).Within();
            _node.Client.Reservations.Should().BeEmpty();
            (await _fixture.CreateNode().Client.ReserveAsync(_node.Id, [_node.Address]).Within()).IsActive.Should().BeTrue("a public node grants reservations again");
        }

        await SendAsync(dialer, accepted, sent, received, () => total += 64 * 1024);
        received.GetHashAndReset().Should().Equal(sent.GetHashAndReset(), "every byte arrived, in order, across eight role changes");
        total.Should().Be(9 * 64 * 1024);
        _coordinator.Relay!.GetStatistics().ActiveCircuits.Should().Be(1, "no role change cut the circuit");
        roles.Select(r => (r.Role, r.ServingAsRelay, r.Reserving)).Should().StartWith([(NodeRole.Private, false, true), (NodeRole.Public, true, false)]);
        roles.Should().HaveCount(10);
    }

    [Fact]
    public async Task Attach_FollowsAutoNatAndAForcedRoleWins()
    {
        await using var forced = new AutoNatService(_node.Host, new AutoNatServiceOptions { ForcedRole = NodeRole.Public }, _fixture.Logs.Factory, _fixture.Meters, _fixture.Time);

        await _coordinator.Attach(forced).Within();

        _coordinator.Role.Should().Be(NodeRole.Public);
        _coordinator.Relay.Should().NotBeNull();
        _coordinator.Relay!.AcceptingReservations.Should().BeTrue();
        _fixture.Logs.Events(607).Should().ContainSingle().Which.Message.Should().Contain("serving as a relay True");
    }

    public Task InitializeAsync()
    {
        _node = _fixture.CreatePublicNode("192.0.2.50");
        var book = new RelayAddressBook(new RelayAddressBookOptions(), _fixture.Time);
        var pool = new RelayPool(book, new RelayPoolOptions { RngSeed = 1 }, _fixture.Time);
        var options = new AutoRelayOptions { DesiredReservations = 0 };
        options.StaticRelays.Add(_fixture.RelayAddress);
        _worker = new AutoRelayService(_node.Host, book, pool, options, _fixture.Logs.Factory, _fixture.Meters, _fixture.Time);
        _fixture.Own(_worker);
        _coordinator = new RoleCoordinator(
            new RoleCoordinatorOptions(),
            _fixture.Logs.Factory,
            () =>
            {
                var relay = new RelayServer(_node.Host, new RelayServerOptions { CircuitDataLimit = 0, CircuitDurationLimit = TimeSpan.Zero }, _fixture.Logs.Factory, _fixture.Meters, _fixture.Time);
                relay.Start();
                _fixture.Own(relay);
                return relay;
            },
            relay => new RelayAdvertPublisher(_node.Host, new RelayAdvertOptions(), _fixture.Time, () => relay.GetStatistics().ActiveReservations),
            _worker);
        _fixture.Own(_coordinator);
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        await _fixture.DisposeAsync().AsTask().Within();
    }

    /// <summary>Applies private and waits until the worker holds its reservation through the fixture's relay.</summary>
    private async Task ApplyPrivateAsync()
    {
        var opened = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        void OnOpened(object? sender, AutoRelayReservationEventArgs e) => opened.TrySetResult();
        _worker.ReservationOpened += OnOpened;
        try
        {
            await _coordinator.ApplyAsync(NodeRole.Private).Within();
            await opened.Task.Within();
        }
        finally
        {
            _worker.ReservationOpened -= OnOpened;
        }
    }

    private static async Task SendAsync(RelayedConnection from, RelayedConnection to, IncrementalHash sent, IncrementalHash received, Action count)
    {
        byte[] chunk = RandomNumberGenerator.GetBytes(64 * 1024);
        sent.AppendData(chunk);
        await from.Output.WriteAsync(chunk).Within();
        int got = 0;
        while (got < chunk.Length)
        {
            System.IO.Pipelines.ReadResult result = await to.Input.ReadAsync().Within();
            foreach (ReadOnlyMemory<byte> segment in result.Buffer)
            {
                received.AppendData(segment.Span);
                got += segment.Length;
            }

            to.Input.AdvanceTo(result.Buffer.End);
        }

        count();
    }
}
