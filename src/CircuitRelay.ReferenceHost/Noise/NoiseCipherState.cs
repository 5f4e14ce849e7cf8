using System.Buffers.Binary;
using System.Security.Cryptography;

namespace CircuitRelay.ReferenceHost.Noise;

/// <summary>
/// A Noise CipherState (noise_spec §5.1) for ChaChaPoly: a key <c>k</c> (possibly empty) and a 64-bit
/// nonce <c>n</c>. Encryption is ChaCha20-Poly1305 (RFC 7539) with the 96-bit nonce
/// <c>4 zero bytes ‖ little-endian u64 n</c> and a 16-byte tag.
/// </summary>
/// <remarks>
/// Not thread-safe: each direction of a session owns one instance. <c>n = 2^64 − 1</c> is reserved,
/// so after 2^64 − 1 messages the state refuses to encrypt or decrypt and the session must end.
/// </remarks>
internal sealed class NoiseCipherState : IDisposable
{
    /// <summary>Size of a ChaCha20-Poly1305 key.</summary>
    public const int KeySize = 32;

    /// <summary>Size of the Poly1305 tag appended to each ciphertext.</summary>
    public const int TagSize = 16;

    /// <summary>Size of the AEAD nonce.</summary>
    public const int NonceSize = 12;

    private ChaCha20Poly1305? _aead;
    private ulong _nonce;

    /// <summary>Whether a key has been set (before that, "encryption" is the identity).</summary>
    public bool HasKey => _aead is not null;

    /// <summary>The next nonce. Settable for tests of nonce exhaustion.</summary>
    public ulong Nonce
    {
        get => _nonce;
        internal set => _nonce = value;
    }

    /// <summary>Sets the key and resets the nonce to zero (<c>InitializeKey</c>).</summary>
    /// <param name="key">The 32-byte key.</param>
    public void InitializeKey(ReadOnlySpan<byte> key)
    {
        if (key.Length != KeySize)
        {
            throw new ArgumentException($"A ChaChaPoly key is {KeySize} bytes.", nameof(key));
        }

        _aead?.Dispose();
        _aead = new ChaCha20Poly1305(key);
        _nonce = 0;
    }

    /// <summary>Writes the 12-byte ChaChaPoly nonce for counter <paramref name="n"/>.</summary>
    /// <param name="n">The counter.</param>
    /// <param name="nonce">Receives 4 zero bytes followed by <paramref name="n"/> in little-endian order.</param>
    public static void WriteNonce(ulong n, Span<byte> nonce)
    {
        if (nonce.Length != NonceSize)
        {
            throw new ArgumentException($"A ChaChaPoly nonce is {NonceSize} bytes.", nameof(nonce));
        }

        BinaryPrimitives.WriteUInt32LittleEndian(nonce, 0);
        BinaryPrimitives.WriteUInt64LittleEndian(nonce[4..], n);
    }

    /// <summary>
    /// <c>EncryptWithAd</c>: with a key, writes <c>plaintext.Length + 16</c> bytes of ciphertext and tag
    /// and increments the nonce; without one, copies the plaintext.
    /// </summary>
    /// <param name="associatedData">The AD (the handshake hash during the handshake, empty afterwards).</param>
    /// <param name="plaintext">The plaintext; must not overlap <paramref name="destination"/>.</param>
    /// <param name="destination">Receives the ciphertext; at least <see cref="GetCiphertextLength"/> bytes.</param>
    /// <returns>The number of bytes written.</returns>
    /// <exception cref="InvalidOperationException">The nonce space is exhausted.</exception>
    public int EncryptWithAd(ReadOnlySpan<byte> associatedData, ReadOnlySpan<byte> plaintext, Span<byte> destination)
    {
        int length = GetCiphertextLength(plaintext.Length);
        if (destination.Length < length)
        {
            throw new ArgumentException("The destination is too small for the ciphertext.", nameof(destination));
        }

        if (_aead is null)
        {
            plaintext.CopyTo(destination);
            return plaintext.Length;
        }

        Span<byte> nonce = stackalloc byte[NonceSize];
        WriteNonce(TakeNonce(), nonce);
        _aead.Encrypt(nonce, plaintext, destination[..plaintext.Length], destination.Slice(plaintext.Length, TagSize), associatedData);
        return length;
    }

    /// <summary>
    /// <c>DecryptWithAd</c>: with a key, authenticates and decrypts <paramref name="ciphertext"/> (which
    /// ends with the tag) and increments the nonce; without one, copies it. On an authentication failure
    /// the nonce is not incremented and nothing is written.
    /// </summary>
    /// <param name="associatedData">The AD.</param>
    /// <param name="ciphertext">The ciphertext and tag; must not overlap <paramref name="destination"/>.</param>
    /// <param name="destination">Receives the plaintext; at least <see cref="GetPlaintextLength"/> bytes.</param>
    /// <returns>The number of plaintext bytes written.</returns>
    /// <exception cref="InvalidDataException">The ciphertext is shorter than a tag or fails authentication.</exception>
    /// <exception cref="InvalidOperationException">The nonce space is exhausted.</exception>
    public int DecryptWithAd(ReadOnlySpan<byte> associatedData, ReadOnlySpan<byte> ciphertext, Span<byte> destination)
    {
        if (_aead is null)
        {
            if (destination.Length < ciphertext.Length)
            {
                throw new ArgumentException("The destination is too small for the plaintext.", nameof(destination));
            }

            ciphertext.CopyTo(destination);
            return ciphertext.Length;
        }

        if (ciphertext.Length < TagSize)
        {
            throw new InvalidDataException($"A Noise ciphertext is at least {TagSize} bytes (the tag); got {ciphertext.Length}.");
        }

        int length = ciphertext.Length - TagSize;
        if (destination.Length < length)
        {
            throw new ArgumentException("The destination is too small for the plaintext.", nameof(destination));
        }

        if (_nonce == ulong.MaxValue)
        {
            throw NonceExhausted();
        }

        Span<byte> nonce = stackalloc byte[NonceSize];
        WriteNonce(_nonce, nonce);
        try
        {
            _aead.Decrypt(nonce, ciphertext[..length], ciphertext[length..], destination[..length], associatedData);
        }
        catch (CryptographicException ex)
        {
            throw new InvalidDataException("A Noise message failed authentication: it was corrupted or tampered with, or the peer uses other keys.", ex);
        }

        _nonce++;
        return length;
    }

    /// <summary>The ciphertext length for <paramref name="plaintextLength"/> under the current key state.</summary>
    /// <param name="plaintextLength">The plaintext length.</param>
    /// <returns>The plaintext length, plus the tag size when a key is set.</returns>
    public int GetCiphertextLength(int plaintextLength) => HasKey ? plaintextLength + TagSize : plaintextLength;

    /// <summary>The plaintext length of <paramref name="ciphertextLength"/> bytes (never negative).</summary>
    /// <param name="ciphertextLength">The ciphertext length.</param>
    /// <returns>The ciphertext length, minus the tag size when a key is set.</returns>
    public int GetPlaintextLength(int ciphertextLength) => HasKey ? Math.Max(0, ciphertextLength - TagSize) : ciphertextLength;

    /// <summary>Releases the key. Idempotent.</summary>
    public void Dispose()
    {
        _aead?.Dispose();
        _aead = null;
    }

    private static InvalidOperationException NonceExhausted() =>
        new("The Noise cipher state has used every nonce (2^64 - 1 messages); the session must end.");

    private ulong TakeNonce()
    {
        if (_nonce == ulong.MaxValue)
        {
            throw NonceExhausted();
        }

        return _nonce++;
    }
}
