using System.Security.Cryptography;
using CircuitRelay.Crypto;

namespace CircuitRelay.Tests.Crypto;

public sealed class PeerIdDerivationTests
{
    [Theory]
    [InlineData(TestVectors.Ed25519PublicKey)]
    [InlineData(TestVectors.Secp256k1PublicKey)]
    public void ToPeerId_InlineKey_IsIdentityMultihash(string publicKey)
    {
        PublicKey key = PublicKey.FromProtobuf(TestVectors.Hex(publicKey));

        key.ToPeerId().ToByteArray().Should().Equal(TestVectors.IdentityMultihash(publicKey));
    }

    [Theory]
    [InlineData(TestVectors.EcdsaPublicKey)]
    [InlineData(TestVectors.RsaPublicKey)]
    public void ToPeerId_LongKey_IsSha256Multihash(string publicKey)
    {
        PublicKey key = PublicKey.FromProtobuf(TestVectors.Hex(publicKey));

        key.ToPeerId().ToByteArray().Should().Equal([0x12, 0x20, .. SHA256.HashData(TestVectors.Hex(publicKey))]);
    }

    [Theory]
    [InlineData(TestVectors.Ed25519PublicKey)]
    [InlineData(TestVectors.Secp256k1PublicKey)]
    public void TryFromPeerId_IdentityPeerId_ReturnsTheKey(string publicKey)
    {
        PublicKey key = PublicKey.FromProtobuf(TestVectors.Hex(publicKey));

        PublicKey.TryFromPeerId(key.ToPeerId(), out PublicKey? extracted).Should().BeTrue();

        extracted.Should().Be(key);
    }

    [Fact]
    public void TryFromPeerId_HashedPeerId_ReturnsFalse()
    {
        PublicKey key = PublicKey.FromProtobuf(TestVectors.Hex(TestVectors.EcdsaPublicKey));

        PublicKey.TryFromPeerId(key.ToPeerId(), out PublicKey? extracted).Should().BeFalse();

        extracted.Should().BeNull();
    }

    [Fact]
    public void Equals_SameTypeAndData_IsTrue()
    {
        PublicKey a = PublicKey.FromProtobuf(TestVectors.Hex(TestVectors.Ed25519PublicKey));
        PublicKey b = PublicKey.Create(KeyType.Ed25519, TestVectors.Hex(TestVectors.Ed25519PublicKey)[4..]);

        a.Equals(b).Should().BeTrue();
        a.GetHashCode().Should().Be(b.GetHashCode());
    }

    [Fact]
    public void Equals_DifferentKeys_IsFalse()
    {
        PublicKey a = PublicKey.FromProtobuf(TestVectors.Hex(TestVectors.Ed25519PublicKey));
        PublicKey b = PublicKey.FromProtobuf(TestVectors.Hex(TestVectors.Secp256k1PublicKey));

        a.Equals(b).Should().BeFalse();
    }
}
