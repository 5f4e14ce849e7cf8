using CircuitRelay.Crypto;
using Google.Protobuf;
using Pb = CircuitRelay.Crypto.Pb;

namespace CircuitRelay.Tests.Crypto;

public sealed class SignedEnvelopeTests
{
    private static readonly byte[] VoucherType = [0x03, 0x02];

    private static KeyIdentity VectorRelay() => new(PrivateKey.FromProtobuf(TestVectors.Hex(TestVectors.Ed25519PrivateKey)));

    [Fact]
    public void BuildSigningInput_VoucherVector_MatchesDerivedBuffer()
    {
        byte[] input = SignedEnvelope.BuildSigningInput(ReservationVoucher.Domain, VoucherType, TestVectors.Hex(TestVectors.VoucherPayload));

        input.Should().Equal(TestVectors.Hex(TestVectors.VoucherSigningInput));
    }

    [Fact]
    public void Seal_VoucherVector_ProducesDerivedEnvelopeByteForByte()
    {
        using KeyIdentity relay = VectorRelay();

        SignedEnvelope envelope = SignedEnvelope.Seal(relay, ReservationVoucher.Domain, VoucherType, TestVectors.Hex(TestVectors.VoucherPayload));

        envelope.Signature.ToArray().Should().Equal(TestVectors.Hex(TestVectors.VoucherSignature));
        byte[] serialized = envelope.ToByteArray();
        serialized.Should().HaveCount(197);
        serialized.Should().Equal(TestVectors.Hex(TestVectors.VoucherEnvelope));
    }

    [Fact]
    public void Open_VoucherVector_ReturnsVerifiedFields()
    {
        SignedEnvelope envelope = SignedEnvelope.Open(
            TestVectors.Hex(TestVectors.VoucherEnvelope), ReservationVoucher.Domain, VoucherType, SignatureVerifier.Default);

        envelope.PublicKey.ToProtobuf().Should().Equal(TestVectors.Hex(TestVectors.Ed25519PublicKey));
        envelope.PayloadType.ToArray().Should().Equal(VoucherType);
        envelope.Payload.ToArray().Should().Equal(TestVectors.Hex(TestVectors.VoucherPayload));
        envelope.Signature.ToArray().Should().Equal(TestVectors.Hex(TestVectors.VoucherSignature));
    }

    [Fact]
    public void Open_TamperedPayload_ThrowsInvalidDataException()
    {
        byte[] bytes = TestVectors.Hex(TestVectors.VoucherEnvelope);
        bytes[38 + 4 + 2 + 86] ^= 0x01; // last byte of the payload (the expiration varint)

        AssertRejected(bytes);
    }

    [Fact]
    public void Open_TamperedSignature_ThrowsInvalidDataException()
    {
        byte[] bytes = TestVectors.Hex(TestVectors.VoucherEnvelope);
        bytes[^1] ^= 0x01;

        AssertRejected(bytes);
    }

    [Fact]
    public void Open_PublicKeyOfAnotherSigner_ThrowsInvalidDataException()
    {
        using KeyIdentity other = KeyIdentity.Generate();
        Pb.Envelope message = Pb.Envelope.Parser.ParseFrom(TestVectors.Hex(TestVectors.VoucherEnvelope));
        message.PublicKey = Pb.PublicKey.Parser.ParseFrom(other.PublicKey.ToProtobuf());

        AssertRejected(message.ToByteArray());
    }

    [Fact]
    public void Open_TamperedPublicKeyByte_ThrowsInvalidDataException()
    {
        byte[] bytes = TestVectors.Hex(TestVectors.VoucherEnvelope);
        bytes[10] ^= 0x01; // inside the 32-byte Ed25519 key

        AssertRejected(bytes);
    }

    [Fact]
    public void Open_WrongDomain_ThrowsInvalidDataException()
    {
        Action act = () => SignedEnvelope.Open(
            TestVectors.Hex(TestVectors.VoucherEnvelope), "libp2p-routing-state", VoucherType, SignatureVerifier.Default);

        act.Should().Throw<InvalidDataException>();
    }

    [Fact]
    public void Open_UnexpectedPayloadType_ThrowsInvalidDataException()
    {
        Action act = () => SignedEnvelope.Open(
            TestVectors.Hex(TestVectors.VoucherEnvelope), ReservationVoucher.Domain, [0x03, 0x01], SignatureVerifier.Default);

        act.Should().Throw<InvalidDataException>();
    }

    [Fact]
    public void Open_PayloadTypeChangedOnTheWire_ThrowsInvalidDataException()
    {
        Pb.Envelope message = Pb.Envelope.Parser.ParseFrom(TestVectors.Hex(TestVectors.VoucherEnvelope));
        message.PayloadType = ByteString.CopyFrom(0x03, 0x01);

        Action act = () => SignedEnvelope.Open(message.ToByteArray(), ReservationVoucher.Domain, [0x03, 0x01], SignatureVerifier.Default);

        act.Should().Throw<InvalidDataException>();
    }

    [Fact]
    public void Open_MissingPublicKey_ThrowsInvalidDataException()
    {
        Pb.Envelope message = Pb.Envelope.Parser.ParseFrom(TestVectors.Hex(TestVectors.VoucherEnvelope));
        message.PublicKey = null;

        AssertRejected(message.ToByteArray());
    }

    [Theory]
    [InlineData("")]
    [InlineData("ff")]
    [InlineData("0a24")]
    [InlineData("0a0208ff")]
    [InlineData("0a04080112001202030212")]
    public void Open_MalformedBytes_ThrowsInvalidDataException(string hex)
    {
        AssertRejected(TestVectors.Hex(hex));
    }

    [Fact]
    public void Open_TruncatedEnvelope_ThrowsInvalidDataException()
    {
        AssertRejected(TestVectors.Hex(TestVectors.VoucherEnvelope)[..^1]);
    }

    [Theory]
    [MemberData(nameof(KeyKinds))]
    public void SealThenOpen_AnyKeyType_RoundTrips(string kind)
    {
        using var identity = new KeyIdentity(KeyFactory.Generate(kind));
        byte[] payload = "payload"u8.ToArray();

        byte[] serialized = SignedEnvelope.Seal(identity, "test-domain", [0x01, 0x02], payload).ToByteArray();
        SignedEnvelope opened = SignedEnvelope.Open(serialized, "test-domain", [0x01, 0x02], SignatureVerifier.Default);

        opened.PublicKey.Should().Be(identity.PublicKey);
        opened.Payload.ToArray().Should().Equal(payload);
    }

    public static TheoryData<string> KeyKinds => new() { "ed25519", "secp256k1", "ecdsa", "rsa" };

    [Fact]
    public void Seal_EmptyDomain_ThrowsArgumentException()
    {
        using KeyIdentity identity = KeyIdentity.Generate();

        Action act = () => SignedEnvelope.Seal(identity, "", VoucherType, []);

        act.Should().Throw<ArgumentException>();
    }

    [Fact]
    public void Seal_EmptyPayloadType_ThrowsArgumentException()
    {
        using KeyIdentity identity = KeyIdentity.Generate();

        Action act = () => SignedEnvelope.Seal(identity, "domain", [], []);

        act.Should().Throw<ArgumentException>();
    }

    private static void AssertRejected(byte[] bytes)
    {
        Action act = () => SignedEnvelope.Open(bytes, ReservationVoucher.Domain, VoucherType, SignatureVerifier.Default);

        act.Should().Throw<InvalidDataException>();
    }
}
