using System.Security.Cryptography;
using CircuitRelay.Multiformats;

namespace CircuitRelay.Tests.Primitives;

public sealed class PeerIdTests
{
    internal const string Ed25519PublicKey = "080112201ed1e8fae2c4a144b8be8fd4b47bf3d3b34b871c3cacf6010f0e42d474fce27e";
    internal const string Ed25519PeerId = "12D3KooWBtg3aaRMjxwedh83aGiUkwSxDwUZkzuJcfaqUmo7R3pq";
    internal const string Ed25519Cid = "bafzaajaiaejcahwr5d5ofrfbis4l5d6uwr57hu5tjodrypfm6yaq6dsc2r2pzyt6";
    internal const string Secp256k1PublicKey = "08021221037777e994e452c21604f91de093ce415f5432f701dd8cd1a7a6fea0e630bfca99";
    internal const string Secp256k1PeerId = "16Uiu2HAmLhLvBoYaoZfaMUKuibM6ac163GwKY74c5kiSLg5KvLpY";
    internal const string SpecQmPeerId = "QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N";
    internal const string SpecQmCid = "bafzbeie5745rpv2m6tjyuugywy4d5ewrqgqqhfnf445he3omzpjbx5xqxe";

    [Fact]
    public void FromSerializedPublicKey_Ed25519SpecVector_IsInlineIdentityMultihash()
    {
        PeerId id = PeerId.FromSerializedPublicKey(Convert.FromHexString(Ed25519PublicKey));

        id.ToByteArray().Should().Equal(Convert.FromHexString("0024" + Ed25519PublicKey));
        id.ByteLength.Should().Be(38);
    }

    [Fact]
    public void ToString_Ed25519SpecVector_IsBase58()
    {
        PeerId.FromSerializedPublicKey(Convert.FromHexString(Ed25519PublicKey)).ToString().Should().Be(Ed25519PeerId);
    }

    [Fact]
    public void ToCidString_Ed25519SpecVector_IsBase32CidV1()
    {
        PeerId.FromSerializedPublicKey(Convert.FromHexString(Ed25519PublicKey)).ToCidString().Should().Be(Ed25519Cid);
    }

    [Fact]
    public void ToString_Secp256k1SpecVector_IsBase58()
    {
        PeerId.FromSerializedPublicKey(Convert.FromHexString(Secp256k1PublicKey)).ToString().Should().Be(Secp256k1PeerId);
    }

    [Fact]
    public void Parse_Ed25519Cid_EqualsBase58Form()
    {
        PeerId.Parse(Ed25519Cid).Should().Be(PeerId.Parse(Ed25519PeerId));
    }

    [Fact]
    public void Parse_SpecQmAndCid_AreTheSameId()
    {
        PeerId legacy = PeerId.Parse(SpecQmPeerId);
        PeerId cid = PeerId.Parse(SpecQmCid);

        legacy.Should().Be(cid);
        (legacy == cid).Should().BeTrue();
        legacy.GetHashCode().Should().Be(cid.GetHashCode());
        legacy.ToString().Should().Be(SpecQmPeerId);
        legacy.ToCidString().Should().Be(SpecQmCid);
        legacy.ToByteArray().Should().Equal(Convert.FromHexString("12209dff3b17d74cf4d38a50d8b6383e92d181a10395a5e73a726dcccbd21bf6f0b9"));
    }

    [Fact]
    public void Parse_SpecEd25519Example_RoundTrips()
    {
        const string text = "12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA";
        PeerId.Parse(text).ToString().Should().Be(text);
    }

    [Fact]
    public void Parse_CidInOtherMultibase_Accepted()
    {
        PeerId id = PeerId.Parse(Ed25519PeerId);
        byte[] cid = [0x01, 0x72, .. id.ToByteArray()];

        PeerId.Parse(Multibase.Encode('z', cid)).Should().Be(id);
        PeerId.Parse(Multibase.Encode('f', cid)).Should().Be(id);
        PeerId.Parse(Multibase.Encode('B', cid)).Should().Be(id);
    }

    [Fact]
    public void FromSerializedPublicKey_LongerThan42Bytes_IsSha256Multihash()
    {
        byte[] key = new byte[43];
        new Random(1).NextBytes(key);

        PeerId id = PeerId.FromSerializedPublicKey(key);

        id.ToByteArray().Should().Equal([0x12, 0x20, .. SHA256.HashData(key)]);
        id.ToString().Should().StartWith("Qm");
        id.TryGetInlinePublicKey(out byte[]? inline).Should().BeFalse();
        inline.Should().BeNull();
    }

    [Fact]
    public void FromSerializedPublicKey_Exactly42Bytes_IsInline()
    {
        byte[] key = new byte[42];
        new Random(2).NextBytes(key);

        PeerId id = PeerId.FromSerializedPublicKey(key);

        id.ToByteArray().Should().Equal([0x00, 42, .. key]);
    }

    [Fact]
    public void FromSerializedPublicKey_Empty_ThrowsArgumentException()
    {
        Action act = () => PeerId.FromSerializedPublicKey([]);
        act.Should().Throw<ArgumentException>();
    }

    [Fact]
    public void TryGetInlinePublicKey_IdentityId_ReturnsKeyProtobuf()
    {
        PeerId id = PeerId.Parse(Secp256k1PeerId);

        id.TryGetInlinePublicKey(out byte[]? key).Should().BeTrue();
        key.Should().Equal(Convert.FromHexString(Secp256k1PublicKey));
    }

    [Fact]
    public void FromBytes_ValidMultihash_RoundTrips()
    {
        byte[] bytes = Convert.FromHexString("0024" + Ed25519PublicKey);

        PeerId id = PeerId.FromBytes(bytes);

        id.AsSpan().ToArray().Should().Equal(bytes);
        id.ToString().Should().Be(Ed25519PeerId);
    }

    [Fact]
    public void ToByteArray_Mutated_DoesNotChangeTheId()
    {
        PeerId id = PeerId.Parse(Ed25519PeerId);
        byte[] copy = id.ToByteArray();
        copy[5] ^= 0xFF;

        id.ToString().Should().Be(Ed25519PeerId);
    }

    [Theory]
    [InlineData("")]
    [InlineData("00")]
    [InlineData("0000")]
    [InlineData("0001")]
    [InlineData("000201")]
    [InlineData("00030102")]
    [InlineData("000101ff")]
    [InlineData("1220")]
    [InlineData("1221" + "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff00")]
    [InlineData("121f" + "00112233445566778899aabbccddeeff00112233445566778899aabbccddee")]
    [InlineData("1320" + "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff")]
    [InlineData("8000")]
    [InlineData("008101" + "00")]
    public void FromBytes_Invalid_ThrowsFormatException(string hex)
    {
        byte[] bytes = Convert.FromHexString(hex);
        Action act = () => PeerId.FromBytes(bytes);
        act.Should().Throw<FormatException>();
        PeerId.TryFromBytes(bytes, out PeerId? id).Should().BeFalse();
        id.Should().BeNull();
    }

    [Fact]
    public void FromBytes_IdentityDigestOf128Bytes_Accepted()
    {
        byte[] bytes = [0x00, 0x80, 0x01, .. new byte[128]];
        PeerId.FromBytes(bytes).ByteLength.Should().Be(131);
    }

    [Fact]
    public void FromBytes_IdentityDigestOf129Bytes_Rejected()
    {
        byte[] bytes = [0x00, 0x81, 0x01, .. new byte[129]];
        Action act = () => PeerId.FromBytes(bytes);
        act.Should().Throw<FormatException>();
    }

    [Theory]
    [InlineData("")]
    [InlineData("hello")]
    [InlineData("Qm")]
    [InlineData("QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5")]
    [InlineData("QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N1")]
    [InlineData("12D3KooWBtg3aaRMjxwedh83aGiUkwSxDwUZkzuJcfaqUmo7R3p0")]
    [InlineData("1")]
    [InlineData("b")]
    [InlineData("bafzbeie5745rpv2m6tjyuugywy4d5ewrqgqqhfnf445he3omzpjbx5xqx")]
    [InlineData("bafzbeie5745rpv2m6tjyuugywy4d5ewrqgqqhfnf445he3omzpjbx5xqxe=")]
    [InlineData("/p2p/QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N")]
    [InlineData(" QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N")]
    [InlineData("zQmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N")]
    public void Parse_Garbage_ThrowsFormatException(string text)
    {
        Action act = () => PeerId.Parse(text);
        act.Should().Throw<FormatException>();
        PeerId.TryParse(text, out PeerId? id).Should().BeFalse();
        id.Should().BeNull();
    }

    [Fact]
    public void Parse_CidWithDagPbCodec_ThrowsFormatException()
    {
        // Same multihash as the spec example, but codec 0x70 (dag-pb) instead of libp2p-key.
        Action act = () => PeerId.Parse("bafybeie5745rpv2m6tjyuugywy4d5ewrqgqqhfnf445he3omzpjbx5xqxe");
        act.Should().Throw<FormatException>().WithMessage("*libp2p-key*");
    }

    [Fact]
    public void Parse_CidVersionZero_ThrowsFormatException()
    {
        Action act = () => PeerId.Parse("babzbeie5745rpv2m6tjyuugywy4d5ewrqgqqhfnf445he3omzpjbx5xqxe");
        act.Should().Throw<FormatException>().WithMessage("*CIDv1*");
    }

    [Fact]
    public void Parse_VeryLongText_ThrowsFormatException()
    {
        Action act = () => PeerId.Parse("Qm" + new string('z', 100_000));
        act.Should().Throw<FormatException>();
    }

    [Fact]
    public void TryParse_Null_ReturnsFalse()
    {
        PeerId.TryParse(null, out PeerId? id).Should().BeFalse();
        id.Should().BeNull();
    }

    [Fact]
    public void Parse_Null_ThrowsArgumentNull()
    {
        Action act = () => PeerId.Parse(null!);
        act.Should().Throw<ArgumentNullException>();
    }

    [Fact]
    public void Equality_DifferentIds_NotEqual()
    {
        PeerId a = PeerId.Parse(Ed25519PeerId);
        PeerId b = PeerId.Parse(Secp256k1PeerId);

        a.Equals(b).Should().BeFalse();
        (a != b).Should().BeTrue();
        a.Equals((object?)null).Should().BeFalse();
        (a == null).Should().BeFalse();
    }

    [Fact]
    public void RandomBytes_FromBytes_EitherParsesOrThrowsFormatException()
    {
        var random = new Random(424242);
        for (int i = 0; i < 10_000; i++)
        {
            byte[] bytes = new byte[random.Next(0, 48)];
            random.NextBytes(bytes);
            if (bytes.Length > 1 && random.Next(2) == 0)
            {
                bytes[0] = random.Next(2) == 0 ? (byte)0x00 : (byte)0x12;
                bytes[1] = (byte)(bytes.Length - 2);
            }

            try
            {
                PeerId.FromBytes(bytes).ToByteArray().Should().Equal(bytes);
            }
            catch (FormatException)
            {
            }
        }
    }

    [Fact]
    public void RandomText_Parse_EitherParsesOrThrowsFormatException()
    {
        var random = new Random(31337);
        const string chars = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz0OIl/=+-_ \u00e9";
        for (int i = 0; i < 10_000; i++)
        {
            int length = random.Next(0, 70);
            var text = new char[length];
            for (int j = 0; j < length; j++)
            {
                text[j] = chars[random.Next(chars.Length)];
            }

            try
            {
                PeerId.Parse(new string(text));
            }
            catch (FormatException)
            {
            }
        }
    }
}
