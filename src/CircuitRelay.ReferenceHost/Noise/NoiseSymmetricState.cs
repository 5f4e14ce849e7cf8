using System.Security.Cryptography;

namespace CircuitRelay.ReferenceHost.Noise;

/// <summary>
/// A Noise SymmetricState (noise_spec §5.2) for SHA-256 and ChaChaPoly: the chaining key <c>ck</c>, the
/// handshake hash <c>h</c> and a <see cref="NoiseCipherState"/>.
/// </summary>
internal sealed class NoiseSymmetricState : IDisposable
{
    private readonly byte[] _chainingKey = new byte[NoiseHkdf.HashLength];
    private readonly byte[] _hash = new byte[NoiseHkdf.HashLength];
    private readonly NoiseCipherState _cipher = new();
    private readonly IncrementalHash _sha256 = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);

    /// <summary><c>InitializeSymmetric(protocol_name)</c>.</summary>
    /// <param name="protocolName">The full protocol name, e.g. <c>Noise_XX_25519_ChaChaPoly_SHA256</c>.</param>
    public NoiseSymmetricState(string protocolName)
    {
        byte[] name = System.Text.Encoding.ASCII.GetBytes(protocolName);
        if (name.Length <= NoiseHkdf.HashLength)
        {
            // Zero-padded to HASHLEN; the libp2p name is exactly 32 bytes, so h is the name itself.
            name.CopyTo(_hash, 0);
        }
        else
        {
            SHA256.HashData(name, _hash);
        }

        _hash.CopyTo(_chainingKey, 0);
    }

    /// <summary>The handshake hash <c>h</c>.</summary>
    public ReadOnlySpan<byte> HandshakeHash => _hash;

    /// <summary>Whether the cipher state has a key.</summary>
    public bool HasKey => _cipher.HasKey;

    /// <summary>The ciphertext length of <paramref name="plaintextLength"/> bytes under the current key state.</summary>
    /// <param name="plaintextLength">The plaintext length.</param>
    /// <returns>The ciphertext length.</returns>
    public int GetCiphertextLength(int plaintextLength) => _cipher.GetCiphertextLength(plaintextLength);

    /// <summary><c>MixKey(ikm)</c>: <c>ck, temp_k = HKDF(ck, ikm, 2)</c>, then <c>InitializeKey(temp_k)</c>.</summary>
    /// <param name="inputKeyMaterial">The DH output.</param>
    public void MixKey(ReadOnlySpan<byte> inputKeyMaterial)
    {
        Span<byte> tempKey = stackalloc byte[NoiseHkdf.HashLength];
        try
        {
            NoiseHkdf.Derive(_chainingKey, inputKeyMaterial, _chainingKey, tempKey);
            _cipher.InitializeKey(tempKey);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(tempKey);
        }
    }

    /// <summary><c>MixHash(data)</c>: <c>h = SHA256(h ‖ data)</c>.</summary>
    /// <param name="data">The data to mix in.</param>
    public void MixHash(ReadOnlySpan<byte> data)
    {
        _sha256.AppendData(_hash);
        _sha256.AppendData(data);
        _sha256.GetHashAndReset(_hash);
    }

    /// <summary><c>EncryptAndHash(plaintext)</c>: encrypt with <c>ad = h</c>, then mix the ciphertext into <c>h</c>.</summary>
    /// <param name="plaintext">The plaintext.</param>
    /// <param name="destination">Receives the ciphertext.</param>
    /// <returns>The number of bytes written.</returns>
    public int EncryptAndHash(ReadOnlySpan<byte> plaintext, Span<byte> destination)
    {
        int written = _cipher.EncryptWithAd(_hash, plaintext, destination);
        MixHash(destination[..written]);
        return written;
    }

    /// <summary><c>DecryptAndHash(ciphertext)</c>: decrypt with <c>ad = h</c>, then mix the ciphertext into <c>h</c>.</summary>
    /// <param name="ciphertext">The ciphertext.</param>
    /// <param name="destination">Receives the plaintext.</param>
    /// <returns>The number of bytes written.</returns>
    /// <exception cref="InvalidDataException">The ciphertext fails authentication.</exception>
    public int DecryptAndHash(ReadOnlySpan<byte> ciphertext, Span<byte> destination)
    {
        int written = _cipher.DecryptWithAd(_hash, ciphertext, destination);
        MixHash(ciphertext);
        return written;
    }

    /// <summary>
    /// <c>Split()</c>: <c>k1, k2 = HKDF(ck, empty, 2)</c>. The first state (k1) encrypts initiator to
    /// responder, the second (k2) responder to initiator. Both start at nonce 0.
    /// </summary>
    /// <returns>The two cipher states; the caller owns them.</returns>
    public (NoiseCipherState InitiatorToResponder, NoiseCipherState ResponderToInitiator) Split()
    {
        Span<byte> k1 = stackalloc byte[NoiseHkdf.HashLength];
        Span<byte> k2 = stackalloc byte[NoiseHkdf.HashLength];
        var c1 = new NoiseCipherState();
        var c2 = new NoiseCipherState();
        try
        {
            NoiseHkdf.Derive(_chainingKey, [], k1, k2);
            c1.InitializeKey(k1);
            c2.InitializeKey(k2);
            return (c1, c2);
        }
        catch
        {
            c1.Dispose();
            c2.Dispose();
            throw;
        }
        finally
        {
            CryptographicOperations.ZeroMemory(k1);
            CryptographicOperations.ZeroMemory(k2);
        }
    }

    /// <summary>Wipes the chaining key and releases the cipher. Idempotent.</summary>
    public void Dispose()
    {
        CryptographicOperations.ZeroMemory(_chainingKey);
        _cipher.Dispose();
        _sha256.Dispose();
    }
}
