using CircuitRelay.Crypto;
using Google.Protobuf;

namespace CircuitRelay.Tests.Crypto;

public sealed class ReservationVoucherTests
{
    private static readonly DateTimeOffset VectorExpiration = DateTimeOffset.FromUnixTimeSeconds(TestVectors.VoucherExpiration);

    private static KeyIdentity VectorRelay() => new(PrivateKey.FromProtobuf(TestVectors.Hex(TestVectors.Ed25519PrivateKey)));

    private static PeerId VectorPeer() => PeerId.FromBytes(TestVectors.IdentityMultihash(TestVectors.Secp256k1PublicKey));

    [Fact]
    public void PayloadType_IsRawCodecBytes()
    {
        ReservationVoucher.PayloadType.ToArray().Should().Equal(0x03, 0x02);
    }

    [Fact]
    public void Seal_DerivedVector_ProducesEnvelopeByteForByte()
    {
        using KeyIdentity relay = VectorRelay();
        var voucher = new ReservationVoucher(relay.PeerId, VectorPeer(), VectorExpiration);

        byte[] envelope = voucher.Seal(relay);

        envelope.Should().Equal(TestVectors.Hex(TestVectors.VoucherEnvelope));
    }

    [Fact]
    public void Open_DerivedVector_ReturnsVoucherFields()
    {
        ReservationVoucher voucher = ReservationVoucher.Open(TestVectors.Hex(TestVectors.VoucherEnvelope), SignatureVerifier.Default);

        voucher.Relay.ToByteArray().Should().Equal(TestVectors.IdentityMultihash(TestVectors.Ed25519PublicKey));
        voucher.Peer.ToByteArray().Should().Equal(TestVectors.IdentityMultihash(TestVectors.Secp256k1PublicKey));
        voucher.Expiration.Should().Be(VectorExpiration);
    }

    [Fact]
    public void Open_VoucherSignedByKeyOtherThanNamedRelay_ThrowsInvalidDataException()
    {
        using KeyIdentity impostor = KeyIdentity.Generate();
        // A well-formed, correctly signed envelope whose payload names the vector relay, signed by someone else.
        byte[] envelope = SignedEnvelope.Seal(
            impostor, ReservationVoucher.Domain, ReservationVoucher.PayloadType, TestVectors.Hex(TestVectors.VoucherPayload)).ToByteArray();

        Action act = () => ReservationVoucher.Open(envelope, SignatureVerifier.Default);

        act.Should().Throw<InvalidDataException>();
    }

    [Fact]
    public void Open_EnvelopeWithOtherDomain_ThrowsInvalidDataException()
    {
        using KeyIdentity relay = VectorRelay();
        byte[] envelope = SignedEnvelope.Seal(
            relay, "libp2p-routing-state", ReservationVoucher.PayloadType, TestVectors.Hex(TestVectors.VoucherPayload)).ToByteArray();

        Action act = () => ReservationVoucher.Open(envelope, SignatureVerifier.Default);

        act.Should().Throw<InvalidDataException>();
    }

    [Fact]
    public void Open_EnvelopeWithPeerRecordPayloadType_ThrowsInvalidDataException()
    {
        using KeyIdentity relay = VectorRelay();
        byte[] envelope = SignedEnvelope.Seal(
            relay, ReservationVoucher.Domain, [0x03, 0x01], TestVectors.Hex(TestVectors.VoucherPayload)).ToByteArray();

        Action act = () => ReservationVoucher.Open(envelope, SignatureVerifier.Default);

        act.Should().Throw<InvalidDataException>();
    }

    public static TheoryData<string, string> MalformedPayloads => new()
    {
        { "not protobuf", "ff" },
        { "missing expiration", TestVectors.VoucherPayload[..^12] },
        { "missing peer", "0a260024080112201ed1e8fae2c4a144b8be8fd4b47bf3d3b34b871c3cacf6010f0e42d474fce27e" + "1880e2cfaa06" },
        { "relay not a multihash", "0a03ffffff" + TestVectors.VoucherPayload[80..] },
        { "peer digest length wrong", TestVectors.VoucherPayload[..80] + "12030025ff" + "1880e2cfaa06" },
        { "expiration beyond year 9999", TestVectors.VoucherPayload[..^12] + "18ffffffffffffffffff01" },
    };

    [Theory]
    [MemberData(nameof(MalformedPayloads))]
    public void Open_MalformedPayload_ThrowsInvalidDataException(string description, string payloadHex)
    {
        _ = description;
        using KeyIdentity relay = VectorRelay();
        byte[] envelope = SignedEnvelope.Seal(
            relay, ReservationVoucher.Domain, ReservationVoucher.PayloadType, TestVectors.Hex(payloadHex)).ToByteArray();

        Action act = () => ReservationVoucher.Open(envelope, SignatureVerifier.Default);

        act.Should().Throw<InvalidDataException>();
    }

    [Fact]
    public void Seal_IdentityThatIsNotTheRelay_ThrowsArgumentException()
    {
        using KeyIdentity relay = VectorRelay();
        using KeyIdentity other = KeyIdentity.Generate();
        var voucher = new ReservationVoucher(relay.PeerId, VectorPeer(), VectorExpiration);

        Action act = () => voucher.Seal(other);

        act.Should().Throw<ArgumentException>();
    }

    [Fact]
    public void Seal_ExpirationBeforeEpoch_ThrowsArgumentException()
    {
        using KeyIdentity relay = VectorRelay();
        var voucher = new ReservationVoucher(relay.PeerId, VectorPeer(), new DateTimeOffset(1969, 12, 31, 0, 0, 0, TimeSpan.Zero));

        Action act = () => voucher.Seal(relay);

        act.Should().Throw<ArgumentException>();
    }

    [Theory]
    [InlineData("secp256k1")]
    [InlineData("ecdsa")]
    [InlineData("rsa")]
    public void SealThenOpen_NonEd25519Relay_RoundTrips(string kind)
    {
        using var relay = new KeyIdentity(KeyFactory.Generate(kind));
        var voucher = new ReservationVoucher(relay.PeerId, VectorPeer(), VectorExpiration);

        ReservationVoucher opened = ReservationVoucher.Open(voucher.Seal(relay), SignatureVerifier.Default);

        opened.Should().Be(voucher);
    }

    [Fact]
    public void Expiration_SubSecondValue_IsTruncatedToWholeSecondsUtc()
    {
        var expiration = new DateTimeOffset(2030, 1, 2, 3, 4, 5, 678, TimeSpan.FromHours(2));

        var voucher = new ReservationVoucher(VectorPeer(), VectorPeer(), expiration);

        voucher.Expiration.Should().Be(new DateTimeOffset(2030, 1, 2, 1, 4, 5, TimeSpan.Zero));
        voucher.Expiration.Offset.Should().Be(TimeSpan.Zero);
    }

    [Fact]
    public void Expiration_SetWithInit_IsTruncated()
    {
        var voucher = new ReservationVoucher(VectorPeer(), VectorPeer(), VectorExpiration);

        ReservationVoucher later = voucher with { Expiration = VectorExpiration.AddMilliseconds(1500) };

        later.Expiration.Should().Be(VectorExpiration.AddSeconds(1));
    }

    [Fact]
    public void SealThenOpen_SubSecondExpiration_RoundTripsToEqualRecord()
    {
        using KeyIdentity relay = VectorRelay();
        var voucher = new ReservationVoucher(relay.PeerId, VectorPeer(), VectorExpiration.AddMilliseconds(999));

        ReservationVoucher opened = ReservationVoucher.Open(voucher.Seal(relay), SignatureVerifier.Default);

        opened.Should().Be(voucher);
    }

    [Fact]
    public void Open_EnvelopeWithUnknownPayloadField_StillOpens()
    {
        // Forward compatibility: proto3 unknown fields in the payload are ignored, as go does.
        using KeyIdentity relay = VectorRelay();
        var payload = global::CircuitRelay.Protocol.Pb.ReservationVoucher.Parser.ParseFrom(TestVectors.Hex(TestVectors.VoucherPayload));
        byte[] extended = [.. payload.ToByteArray(), 0x22, 0x01, 0x00];
        byte[] envelope = SignedEnvelope.Seal(relay, ReservationVoucher.Domain, ReservationVoucher.PayloadType, extended).ToByteArray();

        ReservationVoucher opened = ReservationVoucher.Open(envelope, SignatureVerifier.Default);

        opened.Expiration.Should().Be(VectorExpiration);
    }
}
