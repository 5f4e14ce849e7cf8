using CircuitRelay.Abstractions;
using CircuitRelay.Protocol;
using CircuitRelay.Server;
using CircuitRelay.Tests.Infrastructure;
using CircuitRelay.Transport;

namespace CircuitRelay.Tests.Relay;

public sealed class ConnectTests
{
    [Fact]
    public async Task DialAsync_ThroughRelay_Relays8MiBBothWaysByteExact()
    {
        await using var fixture = RelayFixture.CreateUnlimited();
        var (target, listener) = await fixture.CreateListenerAsync();
        TestNode source = fixture.CreateNode();

        var (dialer, accepted) = await fixture.ConnectAsync(source, target, listener);

        dialer.RemotePeer.Should().Be(target.Id);
        dialer.Direction.Should().Be(ConnectionDirection.Outbound);
        dialer.Limit.Should().BeNull();
        accepted.RemotePeer.Should().Be(source.Id);
        accepted.Direction.Should().Be(ConnectionDirection.Inbound);
        accepted.RemoteAddress.Should().Be(fixture.CircuitAddressOf(source));

        byte[] up = PipeTesting.RandomBytes(8 * 1024 * 1024, 1);
        byte[] down = PipeTesting.RandomBytes(8 * 1024 * 1024, 2);
        Task sendUp = dialer.Output.WriteAllAsync(up);
        Task sendDown = accepted.Output.WriteAllAsync(down);
        Task<byte[]> receivedUp = accepted.Input.ReadToEndAsync();
        Task<byte[]> receivedDown = dialer.Input.ReadToEndAsync();
        await Task.WhenAll(sendUp, sendDown, receivedUp, receivedDown).Within();

        TestExtensions.Sha256(await receivedUp).Should().Be(TestExtensions.Sha256(up));
        TestExtensions.Sha256(await receivedDown).Should().Be(TestExtensions.Sha256(down));
        await dialer.DisposeAsync();
        await accepted.DisposeAsync();

        var closed = await fixture.NextClosedCircuitAsync();
        closed.Reason.Should().Be(CircuitCloseReason.Closed);
        closed.BytesToTarget.Should().Be(up.Length);
        closed.BytesToSource.Should().Be(down.Length);
        fixture.Server.GetStatistics().ActiveCircuits.Should().Be(0);
    }

    [Fact]
    public async Task DialAsync_TargetWithoutReservation_ThrowsNoReservation()
    {
        await using var fixture = RelayFixture.Create();
        TestNode target = fixture.CreateNode();
        TestNode source = fixture.CreateNode();

        Func<Task> act = () => source.Transport.DialAsync(fixture.CircuitAddressOf(target));

        (await act.Should().ThrowAsync<RelayException>()).Which.Status.Should().Be(RelayStatus.NoReservation);
        fixture.Server.GetStatistics().ConnectsRefused.Should().Be(1);
    }

    [Fact]
    public async Task DialAsync_AclRefuses_ThrowsPermissionDenied()
    {
        await using var fixture = RelayFixture.Create(o => o.AllowConnect = (_, _, _) => false);
        var (target, _) = await fixture.CreateListenerAsync();
        TestNode source = fixture.CreateNode();

        Func<Task> act = () => source.Transport.DialAsync(fixture.CircuitAddressOf(target));

        (await act.Should().ThrowAsync<RelayException>()).Which.Status.Should().Be(RelayStatus.PermissionDenied);
    }

    [Fact]
    public async Task DialAsync_SourceOverCircuitCap_ThrowsResourceLimitExceeded()
    {
        await using var fixture = RelayFixture.Create(o => o.MaxCircuitsPerPeer = 1);
        var (target1, listener1) = await fixture.CreateListenerAsync();
        var (target2, _) = await fixture.CreateListenerAsync();
        TestNode source = fixture.CreateNode();
        await fixture.ConnectAsync(source, target1, listener1);

        Func<Task> act = () => source.Transport.DialAsync(fixture.CircuitAddressOf(target2));

        (await act.Should().ThrowAsync<RelayException>()).Which.Status.Should().Be(RelayStatus.ResourceLimitExceeded);
    }

    [Fact]
    public async Task DialAsync_TargetOverCircuitCap_ThrowsResourceLimitExceeded()
    {
        await using var fixture = RelayFixture.Create(o => o.MaxCircuitsPerPeer = 1);
        var (target, listener) = await fixture.CreateListenerAsync();
        await fixture.ConnectAsync(fixture.CreateNode(), target, listener);

        Func<Task> act = () => fixture.CreateNode().Transport.DialAsync(fixture.CircuitAddressOf(target));

        (await act.Should().ThrowAsync<RelayException>()).Which.Status.Should().Be(RelayStatus.ResourceLimitExceeded);
    }

    [Fact]
    public async Task DialAsync_RelayOverTotalCircuitCap_ThrowsResourceLimitExceeded()
    {
        await using var fixture = RelayFixture.Create(o => o.MaxCircuits = 1);
        var (target, listener) = await fixture.CreateListenerAsync();
        var (target2, _) = await fixture.CreateListenerAsync();
        await fixture.ConnectAsync(fixture.CreateNode(), target, listener);

        Func<Task> act = () => fixture.CreateNode().Transport.DialAsync(fixture.CircuitAddressOf(target2));

        (await act.Should().ThrowAsync<RelayException>()).Which.Status.Should().Be(RelayStatus.ResourceLimitExceeded);
    }

    [Fact]
    public async Task DialAsync_ConnectRateLimited_ThrowsResourceLimitExceeded()
    {
        await using var fixture = RelayFixture.Create(o => o.ConnectRateLimitPerPeer = new RateLimitOptions { Permits = 1, Period = TimeSpan.FromMinutes(1) });
        var (target, listener) = await fixture.CreateListenerAsync();
        TestNode source = fixture.CreateNode();
        var (dialer, accepted) = await fixture.ConnectAsync(source, target, listener);
        await dialer.DisposeAsync();
        await accepted.DisposeAsync();

        Func<Task> act = () => source.Transport.DialAsync(fixture.CircuitAddressOf(target));

        (await act.Should().ThrowAsync<RelayException>()).Which.Status.Should().Be(RelayStatus.ResourceLimitExceeded);
    }

    [Fact]
    public async Task DialAsync_TargetCannotOpenStop_ThrowsConnectionFailed()
    {
        await using var fixture = RelayFixture.Create();
        var (target, _) = await fixture.CreateListenerAsync();
        target.Host.RemoveStreamHandler(RelayProtocol.Stop);

        Func<Task> act = () => fixture.CreateNode().Transport.DialAsync(fixture.CircuitAddressOf(target));

        (await act.Should().ThrowAsync<RelayException>()).Which.Status.Should().Be(RelayStatus.ConnectionFailed);
        fixture.Server.GetStatistics().ActiveCircuits.Should().Be(0);
    }

    [Fact]
    public async Task DialAsync_TargetReservedWithoutListener_ThrowsConnectionFailed()
    {
        await using var fixture = RelayFixture.Create();
        TestNode target = fixture.CreateNode();
        await target.Client.ReserveAsync(fixture.RelayId, [fixture.RelayAddress]).Within();

        Func<Task> act = () => fixture.CreateNode().Transport.DialAsync(fixture.CircuitAddressOf(target));

        (await act.Should().ThrowAsync<RelayException>()).Which.Status.Should().Be(RelayStatus.ConnectionFailed);
    }

    [Fact]
    public async Task DialAsync_RelayUnreachable_ThrowsConnectionFailed()
    {
        await using var fixture = RelayFixture.Create();
        TestNode source = fixture.CreateNode();
        TestNode stranger = fixture.CreateNode();
        var nowhere = Multiaddr.CreateCircuit(Multiaddr.Parse("/ip4/192.0.2.99/tcp/1"), PeerIdOfUnknownHost(), stranger.Id);

        Func<Task> act = () => source.Transport.DialAsync(nowhere);

        (await act.Should().ThrowAsync<RelayException>()).Which.Status.Should().Be(RelayStatus.ConnectionFailed);
    }

    [Fact]
    public async Task HopOverRelayedConnection_Refused_PermissionDenied()
    {
        // The target of a relayed connection runs a relay too; a hop request that arrives over the
        // relayed connection must be refused.
        await using var fixture = RelayFixture.CreateUnlimited();
        var (target, _) = await fixture.CreateHostListenerAsync();
        await using var targetRelay = new RelayServer(target.Host, new RelayServerOptions(), Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance, fixture.Meters, fixture.Time);
        targetRelay.Start();
        TestNode source = fixture.CreateNode();
        ConnectionInfo relayed = await source.Host.DialAsync(fixture.CircuitAddressOf(target)).Within();
        relayed.IsRelayed.Should().BeTrue();

        Func<Task> reserve = () => source.Client.ReserveAsync(target.Id);
        Func<Task> connect = () => source.Client.ConnectAsync(target.Id, fixture.CreateNode().Id);

        (await reserve.Should().ThrowAsync<RelayException>()).Which.Status.Should().Be(RelayStatus.PermissionDenied);
        (await connect.Should().ThrowAsync<RelayException>()).Which.Status.Should().Be(RelayStatus.PermissionDenied);
        targetRelay.GetStatistics().ActiveReservations.Should().Be(0);
    }

    [Fact]
    public async Task DialAsync_BytesPipelinedBeforeOk_AreRelayed()
    {
        // The source may write right after CONNECT; those bytes belong to the circuit (no over-read).
        await using var fixture = RelayFixture.CreateUnlimited();
        var (target, listener) = await fixture.CreateListenerAsync();
        TestNode source = fixture.CreateNode();
        ILibp2pStream hop = await source.Host.OpenStreamAsync(fixture.RelayId, RelayProtocol.Hop, fixture.DialRelay).Within();
        var connect = new global::CircuitRelay.Protocol.Pb.HopMessage
        {
            Type = global::CircuitRelay.Protocol.Pb.HopMessage.Types.Type.Connect,
            Peer = new global::CircuitRelay.Protocol.Pb.Peer { Id = Google.Protobuf.ByteString.CopyFrom(target.Id.ToByteArray()) },
        };
        byte[] early = "hello before OK"u8.ToArray();
        int size = connect.CalculateSize();
        byte[] frame = [.. Multiformats.Varint.Encode((ulong)size), .. Google.Protobuf.MessageExtensions.ToByteArray(connect), .. early];
        await hop.Output.WriteAsync(frame).Within();
        await hop.Output.CompleteAsync();

        RelayedConnection? accepted = await listener.AcceptAsync().Within();

        (await accepted!.Input.ReadToEndAsync().Within()).Should().Equal(early);
        await hop.DisposeAsync();
        await accepted.DisposeAsync();
    }

    private static PeerId PeerIdOfUnknownHost() => global::CircuitRelay.Crypto.KeyIdentity.Generate().PeerId;
}
