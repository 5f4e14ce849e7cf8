using CircuitRelay.Crypto;

namespace CircuitRelay.Tests.Crypto;

/// <summary>Key-to-peer-id derivation checked against the published text forms (digest 7.4, 1.8).</summary>
public sealed class PeerIdTextTests
{
    private const string Ed25519Id = "12D3KooWBtg3aaRMjxwedh83aGiUkwSxDwUZkzuJcfaqUmo7R3pq";
    private const string Secp256k1Id = "16Uiu2HAmLhLvBoYaoZfaMUKuibM6ac163GwKY74c5kiSLg5KvLpY";
    private const string EcdsaId = "QmVMT29id3TUASyfZZ6k9hmNyc2nYabCo4uMSpDw4zrgDk";

    [Theory]
    [InlineData(TestVectors.Ed25519PublicKey, Ed25519Id)]
    [InlineData(TestVectors.Secp256k1PublicKey, Secp256k1Id)]
    [InlineData(TestVectors.EcdsaPublicKey, EcdsaId)]
    public void ToPeerId_SpecVectorKey_HasPublishedBase58Text(string publicKey, string expected)
    {
        PublicKey key = PublicKey.FromProtobuf(TestVectors.Hex(publicKey));

        key.ToPeerId().ToString().Should().Be(expected);
    }

    [Theory]
    [InlineData(TestVectors.Ed25519PrivateKey, Ed25519Id)]
    [InlineData(TestVectors.Secp256k1PrivateKey, Secp256k1Id)]
    [InlineData(TestVectors.EcdsaPrivateKey, EcdsaId)]
    public void KeyIdentity_SpecVectorKey_HasPublishedPeerId(string privateKey, string expected)
    {
        using var identity = new KeyIdentity(PrivateKey.FromProtobuf(TestVectors.Hex(privateKey)));

        identity.PeerId.Should().Be(PeerId.Parse(expected));
    }

    [Theory]
    [InlineData(TestVectors.Ed25519PublicKey)]
    [InlineData(TestVectors.Secp256k1PublicKey)]
    [InlineData(TestVectors.EcdsaPublicKey)]
    [InlineData(TestVectors.RsaPublicKey)]
    public void ToPeerId_AnyKey_EqualsPeerIdFromSerializedPublicKey(string publicKey)
    {
        PublicKey key = PublicKey.FromProtobuf(TestVectors.Hex(publicKey));

        key.ToPeerId().Should().Be(PeerId.FromSerializedPublicKey(TestVectors.Hex(publicKey)));
    }

    [Fact]
    public void TryFromPeerId_ParsedEd25519Id_ReturnsTheSpecKey()
    {
        PublicKey.TryFromPeerId(PeerId.Parse(Ed25519Id), out PublicKey? key).Should().BeTrue();

        key!.ToProtobuf().Should().Equal(TestVectors.Hex(TestVectors.Ed25519PublicKey));
    }

    [Fact]
    public void TryFromPeerId_ParsedEcdsaId_ReturnsFalse()
    {
        PublicKey.TryFromPeerId(PeerId.Parse(EcdsaId), out PublicKey? key).Should().BeFalse();

        key.Should().BeNull();
    }

    [Fact]
    public void Open_DerivedVoucherVector_NamesThePublishedRelayAndPeer()
    {
        ReservationVoucher voucher = ReservationVoucher.Open(TestVectors.Hex(TestVectors.VoucherEnvelope), SignatureVerifier.Default);

        voucher.Relay.ToString().Should().Be(Ed25519Id);
        voucher.Peer.ToString().Should().Be(Secp256k1Id);
    }

    [Fact]
    public void Seal_VoucherBuiltFromParsedIds_ProducesDerivedEnvelope()
    {
        using var relay = new KeyIdentity(PrivateKey.FromProtobuf(TestVectors.Hex(TestVectors.Ed25519PrivateKey)));
        var voucher = new ReservationVoucher(
            PeerId.Parse(Ed25519Id), PeerId.Parse(Secp256k1Id), DateTimeOffset.FromUnixTimeSeconds(TestVectors.VoucherExpiration));

        voucher.Seal(relay).Should().Equal(TestVectors.Hex(TestVectors.VoucherEnvelope));
    }
}
