using System.Formats.Asn1;
using System.Numerics;
using System.Security.Cryptography;
using CircuitRelay.Crypto;

namespace CircuitRelay.Tests.Crypto;

public sealed class SignatureTests
{
    private static readonly byte[] Message = "libp2p signature test"u8.ToArray();

    public static TheoryData<string> KeyKinds => new() { "ed25519", "secp256k1", "ecdsa", "rsa" };

    [Theory]
    [MemberData(nameof(KeyKinds))]
    public void Verify_SignatureFromSameKey_ReturnsTrue(string kind)
    {
        using PrivateKey key = KeyFactory.Generate(kind);

        byte[] signature = key.Sign(Message);

        SignatureVerifier.Default.Verify(key.PublicKey, Message, signature).Should().BeTrue();
    }

    [Theory]
    [MemberData(nameof(KeyKinds))]
    public void Verify_WrongData_ReturnsFalse(string kind)
    {
        using PrivateKey key = KeyFactory.Generate(kind);
        byte[] signature = key.Sign(Message);

        SignatureVerifier.Default.Verify(key.PublicKey, "other data"u8, signature).Should().BeFalse();
    }

    [Theory]
    [MemberData(nameof(KeyKinds))]
    public void Verify_SignatureFromAnotherKeyOfSameType_ReturnsFalse(string kind)
    {
        using PrivateKey key = KeyFactory.Generate(kind);
        using PrivateKey other = KeyFactory.Generate(kind);
        byte[] signature = other.Sign(Message);

        SignatureVerifier.Default.Verify(key.PublicKey, Message, signature).Should().BeFalse();
    }

    public static TheoryData<string, string> GarbageSignatures
    {
        get
        {
            var data = new TheoryData<string, string>();
            foreach (string kind in new[] { "ed25519", "secp256k1", "ecdsa", "rsa" })
            {
                data.Add(kind, "");
                data.Add(kind, "00");
                data.Add(kind, "3006020101020101");           // DER r = s = 1
                data.Add(kind, "30ff");                       // DER header with impossible length
                data.Add(kind, new string('f', 128));         // 64 bytes of 0xff
                data.Add(kind, new string('a', 512));         // 256 bytes
            }

            return data;
        }
    }

    [Theory]
    [MemberData(nameof(GarbageSignatures))]
    public void Verify_GarbageSignature_ReturnsFalseWithoutThrowing(string kind, string signatureHex)
    {
        using PrivateKey key = KeyFactory.Generate(kind);

        bool result = SignatureVerifier.Default.Verify(key.PublicKey, Message, TestVectors.Hex(signatureHex));

        result.Should().BeFalse();
    }

    [Fact]
    public void Verify_TamperedRsaSignature_ReturnsFalse()
    {
        using PrivateKey key = KeyFactory.GenerateRsa2048();
        byte[] signature = key.Sign(Message);
        signature[^1] ^= 0x01;

        SignatureVerifier.Default.Verify(key.PublicKey, Message, signature).Should().BeFalse();
    }

    [Fact]
    public void Sign_Ed25519Vector_IsPureEd25519OverTheMessage()
    {
        using PrivateKey key = PrivateKey.FromProtobuf(TestVectors.Hex(TestVectors.Ed25519PrivateKey));
        byte[] seed = TestVectors.Hex(TestVectors.Ed25519PrivateKey)[4..36];
        var expected = new byte[64];
        Curve25519.Default.Ed25519Sign(seed, Message, expected);

        key.Sign(Message).Should().Equal(expected);
    }

    [Fact]
    public void Sign_EcdsaKey_IsDerOverSha256()
    {
        using PrivateKey key = PrivateKey.GenerateEcdsaP256();
        byte[] signature = key.Sign(Message);
        using var ecdsa = ECDsa.Create();
        ecdsa.ImportSubjectPublicKeyInfo(key.PublicKey.Data.Span, out _);

        ecdsa.VerifyHash(SHA256.HashData(Message), signature, DSASignatureFormat.Rfc3279DerSequence).Should().BeTrue();
    }

    [Fact]
    public void Sign_RsaKey_IsPkcs1V15OverSha256()
    {
        using PrivateKey key = KeyFactory.GenerateRsa2048();
        byte[] signature = key.Sign(Message);
        using var rsa = RSA.Create();
        rsa.ImportSubjectPublicKeyInfo(key.PublicKey.Data.Span, out _);

        rsa.VerifyHash(SHA256.HashData(Message), signature, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1).Should().BeTrue();
    }

    [Fact]
    public void Sign_Secp256k1Key_ProducesLowSDerSignatures()
    {
        BigInteger halfOrder = new BigInteger(
            TestVectors.Hex("FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141"), isUnsigned: true, isBigEndian: true) >> 1;
        using PrivateKey key = PrivateKey.GenerateSecp256k1();

        // Random nonces give a high S half of the time; 32 signatures all low-S fails with probability 2^-32 if unnormalized.
        for (int i = 0; i < 32; i++)
        {
            byte[] signature = key.Sign([.. Message, (byte)i]);
            var reader = new AsnReader(signature, AsnEncodingRules.DER);
            AsnReader sequence = reader.ReadSequence();
            _ = sequence.ReadInteger();
            BigInteger s = sequence.ReadInteger();

            s.Should().BeLessThanOrEqualTo(halfOrder);
        }
    }

    [Fact]
    public void Verify_Secp256k1SignatureFromVectorKey_ReturnsTrue()
    {
        using PrivateKey key = PrivateKey.FromProtobuf(TestVectors.Hex(TestVectors.Secp256k1PrivateKey));
        PublicKey publicKey = PublicKey.FromProtobuf(TestVectors.Hex(TestVectors.Secp256k1PublicKey));

        SignatureVerifier.Default.Verify(publicKey, Message, key.Sign(Message)).Should().BeTrue();
    }

    [Fact]
    public void Verify_CustomCurveProvider_IsUsedForEd25519()
    {
        var provider = new RecordingCurve();
        var verifier = new SignatureVerifier(provider);
        PublicKey key = PublicKey.FromProtobuf(TestVectors.Hex(TestVectors.Ed25519PublicKey));

        verifier.Verify(key, Message, new byte[64]).Should().BeTrue();

        provider.VerifyCalls.Should().Be(1);
    }

    [Fact]
    public void Sign_DisposedKey_ThrowsObjectDisposedException()
    {
        PrivateKey key = PrivateKey.GenerateEd25519();
        key.Dispose();

        Action act = () => key.Sign(Message);

        act.Should().Throw<ObjectDisposedException>();
    }

    [Fact]
    public void KeyIdentity_Generate_PeerIdIsDerivedFromPublicKey()
    {
        using KeyIdentity identity = KeyIdentity.Generate();

        identity.PublicKey.Type.Should().Be(KeyType.Ed25519);
        identity.PeerId.Should().Be(identity.PublicKey.ToPeerId());
    }

    [Fact]
    public void KeyIdentity_Sign_VerifiesWithItsPublicKey()
    {
        using var identity = new KeyIdentity(PrivateKey.GenerateSecp256k1());

        byte[] signature = identity.Sign(Message);

        SignatureVerifier.Default.Verify(identity.PublicKey, Message, signature).Should().BeTrue();
    }

    [Fact]
    public void KeyIdentity_Dispose_DisposesTheKey()
    {
        PrivateKey key = PrivateKey.GenerateEd25519();
        var identity = new KeyIdentity(key);

        identity.Dispose();

        Action act = () => key.Sign(Message);
        act.Should().Throw<ObjectDisposedException>();
    }

    private sealed class RecordingCurve : ICurve25519
    {
        public int VerifyCalls { get; private set; }

        public bool Ed25519Verify(ReadOnlySpan<byte> publicKey32, ReadOnlySpan<byte> message, ReadOnlySpan<byte> signature64)
        {
            VerifyCalls++;
            return true;
        }

        public void Ed25519GenerateKey(Span<byte> privateSeed32, Span<byte> publicKey32) => throw new NotSupportedException();

        public void Ed25519GetPublicKey(ReadOnlySpan<byte> privateSeed32, Span<byte> publicKey32) => throw new NotSupportedException();

        public void Ed25519Sign(ReadOnlySpan<byte> privateSeed32, ReadOnlySpan<byte> message, Span<byte> signature64) => throw new NotSupportedException();

        public void X25519GenerateKey(Span<byte> privateKey32, Span<byte> publicKey32) => throw new NotSupportedException();

        public void X25519GetPublicKey(ReadOnlySpan<byte> privateKey32, Span<byte> publicKey32) => throw new NotSupportedException();

        public bool X25519Agree(ReadOnlySpan<byte> privateKey32, ReadOnlySpan<byte> peerPublicKey32, Span<byte> sharedSecret32) => throw new NotSupportedException();
    }
}
