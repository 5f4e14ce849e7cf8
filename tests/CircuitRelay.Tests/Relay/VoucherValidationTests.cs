using CircuitRelay.Crypto;
using ReservationVoucher = CircuitRelay.Crypto.ReservationVoucher;
using CircuitRelay.Abstractions;
using CircuitRelay.Protocol;
using CircuitRelay.Protocol.Pb;
using CircuitRelay.Tests.Infrastructure;
using Google.Protobuf;

namespace CircuitRelay.Tests.Relay;

/// <summary>The client's checks on a relay's RESERVE answer, against a scripted fake relay.</summary>
public sealed class VoucherValidationTests
{
    [Fact]
    public async Task ReserveAsync_NoVoucher_Accepted()
    {
        await using var fixture = RelayFixture.Create();
        var (fake, node) = Setup(fixture, (relay, peer, now) => Ok(now.AddHours(1), voucher: null));

        var reservation = await node.Client.ReserveAsync(fake.Id, [fake.Host.Addresses[0]]).Within();

        reservation.Voucher.Should().BeNull();
        reservation.IsActive.Should().BeTrue();
    }

    [Fact]
    public async Task ReserveAsync_VoucherForAnotherPeer_Rejected()
    {
        await using var fixture = RelayFixture.Create();
        using var stranger = KeyIdentity.Generate();
        var (fake, node) = Setup(fixture, (relay, peer, now) => Ok(now.AddHours(1), new ReservationVoucher(relay.PeerId, stranger.PeerId, now.AddHours(1)).Seal(relay)));

        await AssertRejectedAsync(node, fake, "not for us");
    }

    [Fact]
    public async Task ReserveAsync_VoucherSignedByAnotherKey_Rejected()
    {
        await using var fixture = RelayFixture.Create();
        using var other = KeyIdentity.Generate();
        var (fake, node) = Setup(fixture, (relay, peer, now) => Ok(now.AddHours(1), new ReservationVoucher(other.PeerId, peer, now.AddHours(1)).Seal(other)));

        await AssertRejectedAsync(node, fake, "names relay");
    }

    [Fact]
    public async Task ReserveAsync_VoucherNamingRelayButSignedByOther_Rejected()
    {
        await using var fixture = RelayFixture.Create();
        using var other = KeyIdentity.Generate();
        var (fake, node) = Setup(fixture, (relay, peer, now) =>
        {
            // Signed by `other` but claiming to be from the relay: the envelope's key does not match voucher.relay.
            byte[] payload = new global::CircuitRelay.Protocol.Pb.ReservationVoucher
            {
                Relay = ByteString.CopyFrom(relay.PeerId.ToByteArray()),
                Peer = ByteString.CopyFrom(peer.ToByteArray()),
                Expiration = (ulong)now.AddHours(1).ToUnixTimeSeconds(),
            }.ToByteArray();
            byte[] envelope = SignedEnvelope.Seal(other, ReservationVoucher.Domain, ReservationVoucher.PayloadType, payload).ToByteArray();
            return Ok(now.AddHours(1), envelope);
        });

        await AssertRejectedAsync(node, fake, "voucher");
    }

    [Fact]
    public async Task ReserveAsync_ExpiredVoucher_Rejected()
    {
        await using var fixture = RelayFixture.Create();
        var (fake, node) = Setup(fixture, (relay, peer, now) => Ok(now.AddHours(1), new ReservationVoucher(relay.PeerId, peer, now.AddHours(-1)).Seal(relay)));

        await AssertRejectedAsync(node, fake, "expired");
    }

    [Fact]
    public async Task ReserveAsync_TamperedVoucher_Rejected()
    {
        await using var fixture = RelayFixture.Create();
        var (fake, node) = Setup(fixture, (relay, peer, now) =>
        {
            byte[] voucher = new ReservationVoucher(relay.PeerId, peer, now.AddHours(1)).Seal(relay);
            voucher[^10] ^= 0x01;
            return Ok(now.AddHours(1), voucher);
        });

        await AssertRejectedAsync(node, fake, "voucher");
    }

    [Fact]
    public async Task ReserveAsync_ExpiryInThePast_Rejected()
    {
        await using var fixture = RelayFixture.Create();
        var (fake, node) = Setup(fixture, (relay, peer, now) => Ok(now.AddSeconds(-1), voucher: null));

        await AssertRejectedAsync(node, fake, "expired");
    }

    [Fact]
    public async Task ReserveAsync_OkWithoutReservation_Rejected()
    {
        await using var fixture = RelayFixture.Create();
        var (fake, node) = Setup(fixture, (relay, peer, now) => new HopMessage { Type = HopMessage.Types.Type.Status, Status = Status.Ok });

        await AssertRejectedAsync(node, fake, "without a reservation");
    }

    [Fact]
    public async Task ReserveAsync_AnswerNotStatus_ThrowsUnexpectedMessage()
    {
        await using var fixture = RelayFixture.Create();
        var (fake, node) = Setup(fixture, (relay, peer, now) => new HopMessage { Type = HopMessage.Types.Type.Reserve });

        Func<Task> act = () => node.Client.ReserveAsync(fake.Id, [fake.Host.Addresses[0]]);

        (await act.Should().ThrowAsync<RelayException>()).Which.Status.Should().Be(RelayStatus.UnexpectedMessage);
    }

    private static HopMessage Ok(DateTimeOffset expiry, byte[]? voucher)
    {
        var reservation = new Reservation { Expire = (ulong)Math.Max(0, expiry.ToUnixTimeSeconds()) };
        if (voucher is not null)
        {
            reservation.Voucher = ByteString.CopyFrom(voucher);
        }

        return new HopMessage { Type = HopMessage.Types.Type.Status, Status = Status.Ok, Reservation = reservation };
    }

    private static (TestNode Fake, TestNode Node) Setup(RelayFixture fixture, Func<ILocalIdentity, PeerId, DateTimeOffset, HopMessage> answer)
    {
        TestNode fake = fixture.CreateNode();
        fake.Host.SetStreamHandler(RelayProtocol.Hop, async (stream, cancellationToken) =>
        {
            await MessageIO.ReadHopAsync(stream.Input, cancellationToken);
            HopMessage response = answer(fake.Host.Identity, stream.Connection.RemotePeer, fixture.Time.GetUtcNow());
            await MessageIO.WriteAsync(stream.Output, response, cancellationToken);
            await stream.DisposeAsync();
        });
        return (fake, fixture.CreateNode());
    }

    private static async Task AssertRejectedAsync(TestNode node, TestNode fake, string messagePart)
    {
        Func<Task> act = () => node.Client.ReserveAsync(fake.Id, [fake.Host.Addresses[0]]);

        var error = (await act.Should().ThrowAsync<RelayException>()).Which;
        error.Kind.Should().Be(RelayErrorKind.ProtocolViolation);
        error.Status.Should().Be(RelayStatus.MalformedMessage);
        error.Message.Should().Contain(messagePart);
        node.Client.Reservations.Should().BeEmpty();
    }
}
