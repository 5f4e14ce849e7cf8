using System.Security.Cryptography;
using CircuitRelay.Crypto;

namespace CircuitRelay.Tests.Crypto;

public sealed class KeyProtobufTests
{
    [Theory]
    [InlineData(TestVectors.Ed25519PrivateKey, TestVectors.Ed25519PublicKey)]
    [InlineData(TestVectors.Secp256k1PrivateKey, TestVectors.Secp256k1PublicKey)]
    [InlineData(TestVectors.EcdsaPrivateKey, TestVectors.EcdsaPublicKey)]
    [InlineData(TestVectors.RsaPrivateKey, TestVectors.RsaPublicKey)]
    public void PrivateKeyFromProtobuf_PeerIdsSpecVector_DerivesPublishedPublicKey(string privateKey, string publicKey)
    {
        using PrivateKey key = PrivateKey.FromProtobuf(TestVectors.Hex(privateKey));

        key.PublicKey.ToProtobuf().Should().Equal(TestVectors.Hex(publicKey));
    }

    [Theory]
    [InlineData(TestVectors.Ed25519PrivateKey)]
    [InlineData(TestVectors.Secp256k1PrivateKey)]
    [InlineData(TestVectors.EcdsaPrivateKey)]
    [InlineData(TestVectors.RsaPrivateKey)]
    public void PrivateKeyToProtobuf_PeerIdsSpecVector_ReproducesTheBytes(string privateKey)
    {
        using PrivateKey key = PrivateKey.FromProtobuf(TestVectors.Hex(privateKey));

        key.ToProtobuf().Should().Equal(TestVectors.Hex(privateKey));
    }

    [Theory]
    [InlineData(TestVectors.Ed25519PublicKey, KeyType.Ed25519)]
    [InlineData(TestVectors.Secp256k1PublicKey, KeyType.Secp256k1)]
    [InlineData(TestVectors.EcdsaPublicKey, KeyType.Ecdsa)]
    [InlineData(TestVectors.RsaPublicKey, KeyType.Rsa)]
    public void PublicKeyFromProtobuf_PeerIdsSpecVector_RoundTrips(string publicKey, KeyType type)
    {
        PublicKey key = PublicKey.FromProtobuf(TestVectors.Hex(publicKey));

        key.Type.Should().Be(type);
        key.ToProtobuf().Should().Equal(TestVectors.Hex(publicKey));
    }

    [Fact]
    public void PublicKeyToProtobuf_RsaKey_WritesTypeZeroExplicitly()
    {
        PublicKey key = PublicKey.FromProtobuf(TestVectors.Hex(TestVectors.RsaPublicKey));

        key.ToProtobuf().AsSpan(0, 2).ToArray().Should().Equal(0x08, 0x00);
    }

    [Fact]
    public void PublicKeyData_Ed25519Vector_IsTheRaw32ByteKey()
    {
        PublicKey key = PublicKey.FromProtobuf(TestVectors.Hex(TestVectors.Ed25519PublicKey));

        key.Data.ToArray().Should().Equal(TestVectors.Hex(TestVectors.Ed25519PublicKey)[4..]);
    }

    public static TheoryData<string> GeneratedKeyKinds => new() { "ed25519", "secp256k1", "ecdsa", "rsa" };

    [Theory]
    [MemberData(nameof(GeneratedKeyKinds))]
    public void PrivateKeyProtobuf_GeneratedKey_RoundTrips(string kind)
    {
        using PrivateKey key = KeyFactory.Generate(kind);

        using PrivateKey reloaded = PrivateKey.FromProtobuf(key.ToProtobuf());

        reloaded.Type.Should().Be(key.Type);
        reloaded.PublicKey.Should().Be(key.PublicKey);
        reloaded.ToProtobuf().Should().Equal(key.ToProtobuf());
    }

    [Theory]
    [MemberData(nameof(GeneratedKeyKinds))]
    public void PublicKeyProtobuf_GeneratedKey_RoundTrips(string kind)
    {
        using PrivateKey key = KeyFactory.Generate(kind);

        PublicKey decoded = PublicKey.FromProtobuf(key.PublicKey.ToProtobuf());

        decoded.Should().Be(key.PublicKey);
        decoded.ToProtobuf().Should().Equal(key.PublicKey.ToProtobuf());
    }

    [Fact]
    public void PrivateKeyFromProtobuf_LegacyEd25519With96Bytes_DerivesSameKey()
    {
        byte[] modern = TestVectors.Hex(TestVectors.Ed25519PrivateKey);
        byte[] data = modern[4..];
        byte[] legacy = [0x08, 0x01, 0x12, 0x60, .. data, .. data[32..]];

        using PrivateKey key = PrivateKey.FromProtobuf(legacy);

        key.PublicKey.ToProtobuf().Should().Equal(TestVectors.Hex(TestVectors.Ed25519PublicKey));
        key.ToProtobuf().Should().Equal(modern);
    }

    public static TheoryData<string, string> MalformedPublicKeys => new()
    {
        { "empty", "" },
        { "not protobuf", "ff" },
        { "truncated", TestVectors.Ed25519PublicKey[..^2] },
        { "type only", "0801" },
        { "data only", "12201ed1e8fae2c4a144b8be8fd4b47bf3d3b34b871c3cacf6010f0e42d474fce27e" },
        { "unknown type 4", "080412201ed1e8fae2c4a144b8be8fd4b47bf3d3b34b871c3cacf6010f0e42d474fce27e" },
        { "data before type", "12201ed1e8fae2c4a144b8be8fd4b47bf3d3b34b871c3cacf6010f0e42d474fce27e0801" },
        { "extra field", TestVectors.Ed25519PublicKey + "1801" },
        { "non-minimal type varint", "08810012201ed1e8fae2c4a144b8be8fd4b47bf3d3b34b871c3cacf6010f0e42d474fce27e" },
        { "ed25519 31 bytes", "0801121f1ed1e8fae2c4a144b8be8fd4b47bf3d3b34b871c3cacf6010f0e42d474fce2" },
        { "secp256k1 uncompressed prefix", "08021221047777e994e452c21604f91de093ce415f5432f701dd8cd1a7a6fea0e630bfca99" },
        { "secp256k1 32 bytes", "080212207777e994e452c21604f91de093ce415f5432f701dd8cd1a7a6fea0e630bfca99" },
        // x = 5: 5^3 + 7 = 132 is not a square mod p, so no point has this x.
        { "secp256k1 x not on curve", "08021221020000000000000000000000000000000000000000000000000000000000000005" },
        { "secp256k1 x >= p", "0802122102fffffffffffffffffffffffffffffffffffffffffffffffffffffffefffffc30" },
        { "ecdsa garbage", "080312033001ff" },
        { "ecdsa key as rsa", "0800125b3059301306072a8648ce3d020106082a8648ce3d03010703420004de3d300fa36ae0e8f5d530899d83abab44abf3161f162a4bc901d8e6ecda020e8b6d5f8da30525e71d6851510c098e5c47c646a597fb4dcec034e9f77c409e62" },
        { "rsa key as ecdsa", "0803" + TestVectors.RsaPublicKey[4..] },
        { "ecdsa point off curve", "0803125b3059301306072a8648ce3d020106082a8648ce3d03010703420004de3d300fa36ae0e8f5d530899d83abab44abf3161f162a4bc901d8e6ecda020e8b6d5f8da30525e71d6851510c098e5c47c646a597fb4dcec034e9f77c409e63" },
    };

    [Theory]
    [MemberData(nameof(MalformedPublicKeys))]
    public void PublicKeyFromProtobuf_MalformedInput_ThrowsFormatException(string description, string hex)
    {
        _ = description;

        Action act = () => PublicKey.FromProtobuf(TestVectors.Hex(hex));

        act.Should().Throw<FormatException>();
    }

    [Theory]
    [MemberData(nameof(MalformedPublicKeys))]
    public void PublicKeyTryFromProtobuf_MalformedInput_ReturnsFalse(string description, string hex)
    {
        _ = description;

        PublicKey.TryFromProtobuf(TestVectors.Hex(hex), out PublicKey? key).Should().BeFalse();
        key.Should().BeNull();
    }

    [Fact]
    public void PublicKeyFromProtobuf_Rsa1024Key_ThrowsFormatException()
    {
        using var rsa = RSA.Create(1024);
        byte[] spki = rsa.ExportSubjectPublicKeyInfo();

        Action act = () => PublicKey.Create(KeyType.Rsa, spki);

        act.Should().Throw<FormatException>();
    }

    [Fact]
    public void PublicKeyCreate_EcdsaKeyOnSecp256k1_ThrowsFormatException()
    {
        using var ecdsa = ECDsa.Create(ECCurve.CreateFromValue("1.3.132.0.10"));

        Action act = () => PublicKey.Create(KeyType.Ecdsa, ecdsa.ExportSubjectPublicKeyInfo());

        act.Should().Throw<FormatException>();
    }

    [Fact]
    public void PublicKeyCreate_EcdsaSpkiWithTrailingByte_ThrowsFormatException()
    {
        byte[] spki = [.. TestVectors.Hex(TestVectors.EcdsaPublicKey)[4..], 0x00];

        Action act = () => PublicKey.Create(KeyType.Ecdsa, spki);

        act.Should().Throw<FormatException>();
    }

    [Fact]
    public void PublicKeyCreate_P384Key_IsAccepted()
    {
        using var ecdsa = ECDsa.Create(ECCurve.NamedCurves.nistP384);

        PublicKey key = PublicKey.Create(KeyType.Ecdsa, ecdsa.ExportSubjectPublicKeyInfo());

        key.Type.Should().Be(KeyType.Ecdsa);
    }

    public static TheoryData<string, string> MalformedPrivateKeys => new()
    {
        { "empty", "" },
        { "not protobuf", "ff" },
        { "unknown type", "080512020000" },
        { "ed25519 32 bytes", "080112207e0830617c4a7de83925dfb2694556b12936c477a0e1feb2e148ec9da60fee7d" },
        // Seed of the Ed25519 vector with a public key that is not its own (last byte changed).
        { "ed25519 mismatched public key", TestVectors.Ed25519PrivateKey[..^2] + "7f" },
        { "ed25519 legacy copies differ", "0801126" + "0" + TestVectors.Ed25519PrivateKey[8..] + TestVectors.Ed25519PrivateKey[72..^2] + "7f" },
        { "secp256k1 zero scalar", "080212200000000000000000000000000000000000000000000000000000000000000000" },
        { "secp256k1 scalar = n", "08021220fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141" },
        { "secp256k1 31 bytes", "0802121f53DADF1D5A164D6B4ACDB15E24AA4C5B1D3461BDBD42ABEDB0A4404D56CED8" },
        { "ecdsa garbage", "080312033001ff" },
        { "ecdsa truncated", TestVectors.EcdsaPrivateKey[..^2].Replace("031279", "031278", StringComparison.Ordinal) },
        { "rsa garbage", "080012033001ff" },
    };

    [Theory]
    [MemberData(nameof(MalformedPrivateKeys))]
    public void PrivateKeyFromProtobuf_MalformedInput_ThrowsFormatException(string description, string hex)
    {
        _ = description;

        Action act = () => PrivateKey.FromProtobuf(TestVectors.Hex(hex)).Dispose();

        act.Should().Throw<FormatException>();
    }

    [Fact]
    public void PrivateKeyFromProtobuf_Rsa1024Key_ThrowsFormatException()
    {
        using var rsa = RSA.Create(1024);
        byte[] pkcs1 = rsa.ExportRSAPrivateKey();
        byte[] serialized = [0x08, 0x00, 0x12, .. VarintBytes(pkcs1.Length), .. pkcs1];

        Action act = () => PrivateKey.FromProtobuf(serialized).Dispose();

        act.Should().Throw<FormatException>();
    }

    private static byte[] VarintBytes(int value)
    {
        var bytes = new List<byte>();
        while (value >= 0x80)
        {
            bytes.Add((byte)(value | 0x80));
            value >>= 7;
        }

        bytes.Add((byte)value);
        return [.. bytes];
    }
}
