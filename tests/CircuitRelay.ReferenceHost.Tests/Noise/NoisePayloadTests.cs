using CircuitRelay.Crypto;
using CircuitRelay.ReferenceHost.Noise;
using Google.Protobuf;
using Pb = CircuitRelay.ReferenceHost.Noise.Pb;

namespace CircuitRelay.ReferenceHost.Tests.Noise;

public sealed class NoisePayloadTests : IDisposable
{
    // Digest 7.4: the spec's Ed25519 test key, as a serialized PublicKey protobuf.
    private const string Ed25519PublicKey = "080112201ed1e8fae2c4a144b8be8fd4b47bf3d3b34b871c3cacf6010f0e42d474fce27e";

    private readonly TestIdentities _identities = new();

    public void Dispose() => _identities.Dispose();

    [Fact]
    public void SignaturePrefix_IsTheDigestBytes()
    {
        Convert.ToHexStringLower(NoisePayload.SignaturePrefix).Should().Be("6e6f6973652d6c69627032702d7374617469632d6b65793a");
    }

    [Fact]
    public void Encode_KeySignatureAndYamux_IsTheDigestLayout()
    {
        byte[] key = Convert.FromHexString(Ed25519PublicKey);
        byte[] signature = Enumerable.Range(0, 64).Select(i => (byte)i).ToArray();

        byte[] payload = NoisePayload.Encode(key, signature, ["/yamux/1.0.0"]);

        string expected = "0a24" + Ed25519PublicKey
            + "1240" + Convert.ToHexStringLower(signature)
            + "220e" + "120c" + Convert.ToHexStringLower(System.Text.Encoding.ASCII.GetBytes("/yamux/1.0.0"));
        Convert.ToHexStringLower(payload).Should().Be(expected);
    }

    [Fact]
    public void Encode_NoMuxers_LeavesOutTheExtensionsField()
    {
        byte[] key = Convert.FromHexString(Ed25519PublicKey);

        byte[] payload = NoisePayload.Encode(key, [1, 2, 3], []);

        Convert.ToHexStringLower(payload).Should().Be("0a24" + Ed25519PublicKey + "1203010203");
    }

    [Fact]
    public void Encode_TwoMuxers_KeepsTheirOrder()
    {
        byte[] payload = NoisePayload.Encode([1], [2], ["/yamux/1.0.0", "/mplex/6.7.0"]);

        Convert.ToHexStringLower(payload).Should().EndWith(
            "221c" + "120c" + Convert.ToHexStringLower(System.Text.Encoding.ASCII.GetBytes("/yamux/1.0.0"))
            + "120c" + Convert.ToHexStringLower(System.Text.Encoding.ASCII.GetBytes("/mplex/6.7.0")));
    }

    [Fact]
    public void Verify_PayloadSignedOverTheStaticKey_ReturnsIdentityAndMuxers()
    {
        KeyIdentity identity = _identities.Ed25519();
        byte[] staticKey = PipeTesting.RandomBytes(32, seed: 10);
        byte[] payload = NoisePayload.Create(identity, staticKey, ["/yamux/1.0.0"]);

        NoiseRemoteIdentity remote = NoisePayload.Verify(payload, staticKey, SignatureVerifier.Default);

        remote.PeerId.Should().Be(identity.PeerId);
        remote.PublicKey.Should().Be(identity.PublicKey);
        remote.Muxers.Should().Equal("/yamux/1.0.0");
    }

    [Fact]
    public void Verify_SignatureOverAnotherStaticKey_ThrowsInvalidData()
    {
        KeyIdentity identity = _identities.Ed25519();
        byte[] signedKey = PipeTesting.RandomBytes(32, seed: 11);
        byte[] usedKey = PipeTesting.RandomBytes(32, seed: 12);
        byte[] payload = NoisePayload.Create(identity, signedKey, []);

        Action verify = () => NoisePayload.Verify(payload, usedKey, SignatureVerifier.Default);

        verify.Should().Throw<InvalidDataException>().WithMessage("*identity_sig does not verify*");
    }

    [Fact]
    public void Verify_NotAProtobuf_ThrowsInvalidData()
    {
        Action verify = () => NoisePayload.Verify([0xff, 0xff, 0xff], new byte[32], SignatureVerifier.Default);

        verify.Should().Throw<InvalidDataException>().WithMessage("*not a valid NoiseHandshakePayload*");
    }

    [Fact]
    public void Verify_NoIdentityKey_ThrowsInvalidData()
    {
        byte[] payload = new Pb.NoiseHandshakePayload { IdentitySig = ByteString.CopyFrom([1, 2]) }.ToByteArray();

        Action verify = () => NoisePayload.Verify(payload, new byte[32], SignatureVerifier.Default);

        verify.Should().Throw<InvalidDataException>().WithMessage("*no identity_key*");
    }

    [Fact]
    public void Verify_NoSignature_ThrowsInvalidData()
    {
        byte[] payload = new Pb.NoiseHandshakePayload { IdentityKey = ByteString.CopyFrom(Convert.FromHexString(Ed25519PublicKey)) }.ToByteArray();

        Action verify = () => NoisePayload.Verify(payload, new byte[32], SignatureVerifier.Default);

        verify.Should().Throw<InvalidDataException>().WithMessage("*no identity_sig*");
    }

    [Fact]
    public void Verify_MalformedIdentityKey_ThrowsInvalidData()
    {
        byte[] payload = NoisePayload.Encode([0x08, 0x01, 0x12, 0x03, 1, 2, 3], new byte[64], []);

        Action verify = () => NoisePayload.Verify(payload, new byte[32], SignatureVerifier.Default);

        verify.Should().Throw<InvalidDataException>().WithMessage("*identity_key*").WithInnerException<FormatException>();
    }

    [Fact]
    public void Verify_MoreThanOneHundredMuxers_IgnoresTheList()
    {
        KeyIdentity identity = _identities.Ed25519();
        byte[] staticKey = PipeTesting.RandomBytes(32, seed: 13);
        string[] muxers = Enumerable.Range(0, 101).Select(i => $"/m/{i}").ToArray();
        byte[] payload = NoisePayload.Create(identity, staticKey, muxers);

        NoiseRemoteIdentity remote = NoisePayload.Verify(payload, staticKey, SignatureVerifier.Default);

        remote.Muxers.Should().BeEmpty();
    }

    [Fact]
    public void Verify_UnknownFields_AreIgnored()
    {
        KeyIdentity identity = _identities.Ed25519();
        byte[] staticKey = PipeTesting.RandomBytes(32, seed: 14);
        byte[] payload = [.. NoisePayload.Create(identity, staticKey, []), 0x1a, 0x01, 0x00]; // field 3 (retired early data)

        NoiseRemoteIdentity remote = NoisePayload.Verify(payload, staticKey, SignatureVerifier.Default);

        remote.PeerId.Should().Be(identity.PeerId);
    }
}
