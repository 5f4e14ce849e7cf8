using System.Security.Cryptography;
using CircuitRelay.ReferenceHost.Noise;

namespace CircuitRelay.ReferenceHost.Tests.Noise;

public sealed class NoisePrimitivesTests
{
    [Fact]
    public void Hkdf_RandomInputs_MatchesRfc5869WithChainingKeyAsSalt()
    {
        byte[] chainingKey = PipeTesting.RandomBytes(32, seed: 1);
        byte[] ikm = PipeTesting.RandomBytes(32, seed: 2);
        var o1 = new byte[32];
        var o2 = new byte[32];

        NoiseHkdf.Derive(chainingKey, ikm, o1, o2);

        byte[] expected = HKDF.DeriveKey(HashAlgorithmName.SHA256, ikm, 64, salt: chainingKey, info: []);
        o1.Should().Equal(expected[..32]);
        o2.Should().Equal(expected[32..]);
    }

    [Fact]
    public void Hkdf_Rfc5869TestCase3_MatchesOkm()
    {
        // RFC 5869 A.3: IKM = 0x0b * 22, salt and info empty; OKM (42 bytes) is the start of o1 || o2.
        byte[] ikm = Enumerable.Repeat((byte)0x0b, 22).ToArray();
        var o1 = new byte[32];
        var o2 = new byte[32];

        NoiseHkdf.Derive([], ikm, o1, o2);

        Convert.ToHexStringLower([.. o1, .. o2])[..84].Should().Be(
            "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8");
    }

    [Fact]
    public void Hkdf_OutputAliasesChainingKey_UsesTheOriginalChainingKey()
    {
        byte[] chainingKey = PipeTesting.RandomBytes(32, seed: 3);
        byte[] ikm = PipeTesting.RandomBytes(32, seed: 4);
        var expected1 = new byte[32];
        var expected2 = new byte[32];
        NoiseHkdf.Derive(chainingKey, ikm, expected1, expected2);

        var o2 = new byte[32];
        NoiseHkdf.Derive(chainingKey, ikm, chainingKey, o2);

        chainingKey.Should().Equal(expected1);
        o2.Should().Equal(expected2);
    }

    [Theory]
    [InlineData(0UL, "000000000000000000000000")]
    [InlineData(1UL, "000000000100000000000000")]
    [InlineData(0x0102030405060708UL, "000000000807060504030201")]
    [InlineData(ulong.MaxValue - 1, "00000000feffffffffffffff")]
    public void WriteNonce_Counter_IsFourZeroBytesThenLittleEndian(ulong counter, string expectedHex)
    {
        var nonce = new byte[12];

        NoiseCipherState.WriteNonce(counter, nonce);

        Convert.ToHexStringLower(nonce).Should().Be(expectedHex);
    }

    [Fact]
    public void SymmetricState_LibP2pProtocolName_HashIsTheNameItself()
    {
        using var state = new NoiseSymmetricState(NoiseHandshakeState.ProtocolName);

        System.Text.Encoding.ASCII.GetByteCount(NoiseHandshakeState.ProtocolName).Should().Be(32);
        state.HandshakeHash.ToArray().Should().Equal(System.Text.Encoding.ASCII.GetBytes(NoiseHandshakeState.ProtocolName));
    }

    [Fact]
    public void SymmetricState_LongProtocolName_HashIsItsSha256()
    {
        const string name = "Noise_XXpsk3_25519_ChaChaPoly_SHA256";

        using var state = new NoiseSymmetricState(name);

        state.HandshakeHash.ToArray().Should().Equal(SHA256.HashData(System.Text.Encoding.ASCII.GetBytes(name)));
    }

    [Fact]
    public void CipherState_WithoutKey_CopiesPlaintext()
    {
        using var cipher = new NoiseCipherState();
        byte[] plaintext = [1, 2, 3];
        var output = new byte[3];

        int written = cipher.EncryptWithAd([9], plaintext, output);

        written.Should().Be(3);
        output.Should().Equal(plaintext);
        cipher.Nonce.Should().Be(0);
    }

    [Fact]
    public void CipherState_EncryptThenDecrypt_RoundTripsAndAdvancesNonces()
    {
        byte[] key = PipeTesting.RandomBytes(32, seed: 5);
        using var sender = new NoiseCipherState();
        using var receiver = new NoiseCipherState();
        sender.InitializeKey(key);
        receiver.InitializeKey(key);
        byte[] plaintext = System.Text.Encoding.ASCII.GetBytes("hello noise");
        var ciphertext = new byte[plaintext.Length + 16];
        var decrypted = new byte[plaintext.Length];

        sender.EncryptWithAd([], plaintext, ciphertext).Should().Be(plaintext.Length + 16);
        receiver.DecryptWithAd([], ciphertext, decrypted).Should().Be(plaintext.Length);

        decrypted.Should().Equal(plaintext);
        sender.Nonce.Should().Be(1);
        receiver.Nonce.Should().Be(1);
    }

    [Fact]
    public void CipherState_TamperedCiphertext_ThrowsInvalidDataAndKeepsNonce()
    {
        byte[] key = PipeTesting.RandomBytes(32, seed: 6);
        using var sender = new NoiseCipherState();
        using var receiver = new NoiseCipherState();
        sender.InitializeKey(key);
        receiver.InitializeKey(key);
        var ciphertext = new byte[4 + 16];
        sender.EncryptWithAd([], [1, 2, 3, 4], ciphertext);
        ciphertext[1] ^= 0x80;

        Action decrypt = () => receiver.DecryptWithAd([], ciphertext, new byte[4]);

        decrypt.Should().Throw<InvalidDataException>().WithMessage("*authentication*");
        receiver.Nonce.Should().Be(0);
    }

    [Fact]
    public void CipherState_CiphertextShorterThanTag_ThrowsInvalidData()
    {
        using var receiver = new NoiseCipherState();
        receiver.InitializeKey(new byte[32]);

        Action decrypt = () => receiver.DecryptWithAd([], new byte[15], new byte[0]);

        decrypt.Should().Throw<InvalidDataException>();
    }

    [Fact]
    public void CipherState_LastUsableNonce_EncryptsOnceThenRefuses()
    {
        using var cipher = new NoiseCipherState();
        cipher.InitializeKey(new byte[32]);
        cipher.Nonce = ulong.MaxValue - 1;
        var output = new byte[17];

        cipher.EncryptWithAd([], [7], output);
        Action again = () => cipher.EncryptWithAd([], [7], output);

        again.Should().Throw<InvalidOperationException>().WithMessage("*nonce*");
    }

    [Fact]
    public void CipherState_ReservedNonce_RefusesToDecrypt()
    {
        using var cipher = new NoiseCipherState();
        cipher.InitializeKey(new byte[32]);
        cipher.Nonce = ulong.MaxValue;

        Action decrypt = () => cipher.DecryptWithAd([], new byte[16], new byte[0]);

        decrypt.Should().Throw<InvalidOperationException>();
    }
}
