using CircuitRelay.Crypto;

namespace CircuitRelay.Tests.Crypto;

public sealed class Curve25519Tests
{
    private static readonly ICurve25519 Curve = Curve25519.Default;

    // RFC 8032 section 7.1, TEST 1, 2 and 3: secret seed, public key, message, signature.
    public static TheoryData<string, string, string, string> Rfc8032Vectors => new()
    {
        {
            "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
            "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
            "",
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
        },
        {
            "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
            "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
            "72",
            "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"
        },
        {
            "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
            "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
            "af82",
            "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a"
        },
    };

    [Theory]
    [MemberData(nameof(Rfc8032Vectors))]
    public void Ed25519GetPublicKey_Rfc8032Seed_ReturnsPublishedPublicKey(string seed, string publicKey, string message, string signature)
    {
        _ = message;
        _ = signature;
        var derived = new byte[32];

        Curve.Ed25519GetPublicKey(TestVectors.Hex(seed), derived);

        derived.Should().Equal(TestVectors.Hex(publicKey));
    }

    [Theory]
    [MemberData(nameof(Rfc8032Vectors))]
    public void Ed25519Sign_Rfc8032Vector_ProducesPublishedSignature(string seed, string publicKey, string message, string signature)
    {
        _ = publicKey;
        var produced = new byte[64];

        Curve.Ed25519Sign(TestVectors.Hex(seed), TestVectors.Hex(message), produced);

        produced.Should().Equal(TestVectors.Hex(signature));
    }

    [Theory]
    [MemberData(nameof(Rfc8032Vectors))]
    public void Ed25519Verify_Rfc8032Vector_ReturnsTrue(string seed, string publicKey, string message, string signature)
    {
        _ = seed;

        Curve.Ed25519Verify(TestVectors.Hex(publicKey), TestVectors.Hex(message), TestVectors.Hex(signature)).Should().BeTrue();
    }

    [Theory]
    [MemberData(nameof(Rfc8032Vectors))]
    public void Ed25519Verify_SignatureWithFlippedBit_ReturnsFalse(string seed, string publicKey, string message, string signature)
    {
        _ = seed;
        byte[] tampered = TestVectors.Hex(signature);
        tampered[5] ^= 0x01;

        Curve.Ed25519Verify(TestVectors.Hex(publicKey), TestVectors.Hex(message), tampered).Should().BeFalse();
    }

    [Theory]
    [MemberData(nameof(Rfc8032Vectors))]
    public void Ed25519Verify_MessageWithExtraByte_ReturnsFalse(string seed, string publicKey, string message, string signature)
    {
        _ = seed;
        byte[] longer = [.. TestVectors.Hex(message), 0x00];

        Curve.Ed25519Verify(TestVectors.Hex(publicKey), longer, TestVectors.Hex(signature)).Should().BeFalse();
    }

    [Theory]
    [InlineData(0)]
    [InlineData(63)]
    [InlineData(65)]
    public void Ed25519Verify_SignatureOfWrongLength_ReturnsFalse(int length)
    {
        byte[] publicKey = TestVectors.Hex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");

        Curve.Ed25519Verify(publicKey, [], new byte[length]).Should().BeFalse();
    }

    [Fact]
    public void Ed25519Verify_PublicKeyOfWrongLength_ReturnsFalse()
    {
        byte[] signature = TestVectors.Hex(
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b");

        Curve.Ed25519Verify(new byte[31], [], signature).Should().BeFalse();
    }

    [Fact]
    public void Ed25519GenerateKey_NewKey_SignsAndVerifies()
    {
        var seed = new byte[32];
        var publicKey = new byte[32];
        var signature = new byte[64];
        byte[] message = "hello"u8.ToArray();

        Curve.Ed25519GenerateKey(seed, publicKey);
        Curve.Ed25519Sign(seed, message, signature);

        Curve.Ed25519Verify(publicKey, message, signature).Should().BeTrue();
    }

    [Fact]
    public void Ed25519Sign_SeedOfWrongLength_ThrowsArgumentException()
    {
        Action act = () => Curve.Ed25519Sign(new byte[31], [], new byte[64]);

        act.Should().Throw<ArgumentException>();
    }

    // RFC 7748 section 5.2: scalar, input u-coordinate, output u-coordinate.
    [Theory]
    [InlineData(
        "a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4",
        "e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c",
        "c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552")]
    [InlineData(
        "4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d",
        "e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493",
        "95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957")]
    public void X25519Agree_Rfc7748ScalarMultiplicationVector_ProducesPublishedOutput(string scalar, string u, string expected)
    {
        var output = new byte[32];

        bool ok = Curve.X25519Agree(TestVectors.Hex(scalar), TestVectors.Hex(u), output);

        ok.Should().BeTrue();
        output.Should().Equal(TestVectors.Hex(expected));
    }

    private const string AlicePrivate = "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a";
    private const string AlicePublic = "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a";
    private const string BobPrivate = "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb";
    private const string BobPublic = "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f";
    private const string SharedSecret = "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742";

    [Theory]
    [InlineData(AlicePrivate, AlicePublic)]
    [InlineData(BobPrivate, BobPublic)]
    public void X25519GetPublicKey_Rfc7748DiffieHellmanKey_ReturnsPublishedPublicKey(string privateKey, string publicKey)
    {
        var derived = new byte[32];

        Curve.X25519GetPublicKey(TestVectors.Hex(privateKey), derived);

        derived.Should().Equal(TestVectors.Hex(publicKey));
    }

    [Theory]
    [InlineData(AlicePrivate, BobPublic)]
    [InlineData(BobPrivate, AlicePublic)]
    public void X25519Agree_Rfc7748DiffieHellman_ProducesPublishedSharedSecret(string privateKey, string peerPublicKey)
    {
        var secret = new byte[32];

        bool ok = Curve.X25519Agree(TestVectors.Hex(privateKey), TestVectors.Hex(peerPublicKey), secret);

        ok.Should().BeTrue();
        secret.Should().Equal(TestVectors.Hex(SharedSecret));
    }

    [Theory]
    [InlineData("0000000000000000000000000000000000000000000000000000000000000000")] // u = 0
    [InlineData("0100000000000000000000000000000000000000000000000000000000000000")] // u = 1
    [InlineData("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800")] // order 8
    public void X25519Agree_LowOrderPeerPoint_ReturnsFalseAndClearsOutput(string lowOrderPoint)
    {
        var secret = new byte[32];
        secret.AsSpan().Fill(0xaa);

        bool ok = Curve.X25519Agree(TestVectors.Hex(AlicePrivate), TestVectors.Hex(lowOrderPoint), secret);

        ok.Should().BeFalse();
        secret.Should().OnlyContain(b => b == 0);
    }

    [Fact]
    public void X25519GenerateKey_TwoNewKeys_AgreeOnTheSameSecret()
    {
        var a = new byte[32];
        var aPublic = new byte[32];
        var b = new byte[32];
        var bPublic = new byte[32];
        var ab = new byte[32];
        var ba = new byte[32];
        Curve.X25519GenerateKey(a, aPublic);
        Curve.X25519GenerateKey(b, bPublic);

        Curve.X25519Agree(a, bPublic, ab).Should().BeTrue();
        Curve.X25519Agree(b, aPublic, ba).Should().BeTrue();

        ab.Should().Equal(ba);
    }

    [Fact]
    public void X25519Agree_OutputOfWrongLength_ThrowsArgumentException()
    {
        Action act = () => Curve.X25519Agree(TestVectors.Hex(AlicePrivate), TestVectors.Hex(BobPublic), new byte[31]);

        act.Should().Throw<ArgumentException>();
    }
}
