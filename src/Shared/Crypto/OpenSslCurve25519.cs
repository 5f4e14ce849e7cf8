using System.Security.Cryptography;

using static CircuitRelay.Crypto.LibCrypto;

namespace CircuitRelay.Crypto;

/// <summary>
/// <see cref="ICurve25519"/> on OpenSSL 3 libcrypto: raw <c>EVP_PKEY</c> keys of type ED25519 and
/// X25519, one-shot <c>EVP_DigestSign</c>/<c>EVP_DigestVerify</c> with no digest, and
/// <c>EVP_PKEY_derive</c>. Randomness comes from <see cref="RandomNumberGenerator"/>.
/// </summary>
internal sealed unsafe class OpenSslCurve25519 : ICurve25519
{
    internal const int KeySize = 32;
    internal const int SignatureSize = 64;

    internal static readonly OpenSslCurve25519 Instance = new();

    private OpenSslCurve25519()
    {
    }

    public void Ed25519GenerateKey(Span<byte> privateSeed32, Span<byte> publicKey32)
        => GenerateKey(EvpPkeyEd25519, privateSeed32, publicKey32);

    public void Ed25519GetPublicKey(ReadOnlySpan<byte> privateSeed32, Span<byte> publicKey32)
        => GetPublicKey(EvpPkeyEd25519, privateSeed32, publicKey32);

    public void Ed25519Sign(ReadOnlySpan<byte> privateSeed32, ReadOnlySpan<byte> message, Span<byte> signature64)
    {
        RequireLength(privateSeed32.Length, KeySize, nameof(privateSeed32));
        RequireLength(signature64.Length, SignatureSize, nameof(signature64));

        nint pkey = NewRawPrivateKey(EvpPkeyEd25519, privateSeed32);
        nint context = 0;
        try
        {
            context = EVP_MD_CTX_new();
            if (context == 0)
            {
                throw CreateException(nameof(EVP_MD_CTX_new));
            }

            if (EVP_DigestSignInit(context, 0, 0, 0, pkey) != 1)
            {
                throw CreateException(nameof(EVP_DigestSignInit));
            }

            byte empty = 0;
            nuint length = SignatureSize;
            fixed (byte* signaturePointer = signature64)
            fixed (byte* messagePointer = message)
            {
                byte* data = message.IsEmpty ? &empty : messagePointer;
                if (EVP_DigestSign(context, signaturePointer, &length, data, (nuint)message.Length) != 1)
                {
                    throw CreateException(nameof(EVP_DigestSign));
                }
            }

            if (length != SignatureSize)
            {
                throw new CryptographicException("OpenSSL EVP_DigestSign returned an unexpected signature length.");
            }
        }
        finally
        {
            if (context != 0)
            {
                EVP_MD_CTX_free(context);
            }

            EVP_PKEY_free(pkey);
        }
    }

    public bool Ed25519Verify(ReadOnlySpan<byte> publicKey32, ReadOnlySpan<byte> message, ReadOnlySpan<byte> signature64)
    {
        if (publicKey32.Length != KeySize || signature64.Length != SignatureSize)
        {
            return false;
        }

        nint pkey;
        fixed (byte* keyPointer = publicKey32)
        {
            pkey = EVP_PKEY_new_raw_public_key(EvpPkeyEd25519, 0, keyPointer, KeySize);
        }

        if (pkey == 0)
        {
            ERR_clear_error();
            return false;
        }

        nint context = 0;
        try
        {
            context = EVP_MD_CTX_new();
            if (context == 0)
            {
                throw CreateException(nameof(EVP_MD_CTX_new));
            }

            if (EVP_DigestVerifyInit(context, 0, 0, 0, pkey) != 1)
            {
                throw CreateException(nameof(EVP_DigestVerifyInit));
            }

            byte empty = 0;
            int result;
            fixed (byte* signaturePointer = signature64)
            fixed (byte* messagePointer = message)
            {
                byte* data = message.IsEmpty ? &empty : messagePointer;
                result = EVP_DigestVerify(context, signaturePointer, SignatureSize, data, (nuint)message.Length);
            }

            if (result != 1)
            {
                // 0 is "bad signature"; negative values are errors on malformed input. Either way: not valid.
                ERR_clear_error();
                return false;
            }

            return true;
        }
        finally
        {
            if (context != 0)
            {
                EVP_MD_CTX_free(context);
            }

            EVP_PKEY_free(pkey);
        }
    }

    public void X25519GenerateKey(Span<byte> privateKey32, Span<byte> publicKey32)
        => GenerateKey(EvpPkeyX25519, privateKey32, publicKey32);

    public void X25519GetPublicKey(ReadOnlySpan<byte> privateKey32, Span<byte> publicKey32)
        => GetPublicKey(EvpPkeyX25519, privateKey32, publicKey32);

    public bool X25519Agree(ReadOnlySpan<byte> privateKey32, ReadOnlySpan<byte> peerPublicKey32, Span<byte> sharedSecret32)
    {
        RequireLength(privateKey32.Length, KeySize, nameof(privateKey32));
        RequireLength(peerPublicKey32.Length, KeySize, nameof(peerPublicKey32));
        RequireLength(sharedSecret32.Length, KeySize, nameof(sharedSecret32));

        nint pkey = NewRawPrivateKey(EvpPkeyX25519, privateKey32);
        nint peer = 0;
        nint context = 0;
        try
        {
            fixed (byte* peerPointer = peerPublicKey32)
            {
                peer = EVP_PKEY_new_raw_public_key(EvpPkeyX25519, 0, peerPointer, KeySize);
            }

            if (peer == 0)
            {
                ERR_clear_error();
                sharedSecret32.Clear();
                return false;
            }

            context = EVP_PKEY_CTX_new(pkey, 0);
            if (context == 0)
            {
                throw CreateException(nameof(EVP_PKEY_CTX_new));
            }

            if (EVP_PKEY_derive_init(context) != 1)
            {
                throw CreateException(nameof(EVP_PKEY_derive_init));
            }

            if (EVP_PKEY_derive_set_peer(context, peer) != 1)
            {
                ERR_clear_error();
                sharedSecret32.Clear();
                return false;
            }

            nuint length = KeySize;
            int result;
            fixed (byte* secretPointer = sharedSecret32)
            {
                result = EVP_PKEY_derive(context, secretPointer, &length);
            }

            // OpenSSL 3 refuses an all-zero X25519 output (a low-order peer point). Check it here as well
            // so that the contract does not depend on the library version.
            if (result != 1 || length != KeySize || IsAllZero(sharedSecret32))
            {
                ERR_clear_error();
                sharedSecret32.Clear();
                return false;
            }

            return true;
        }
        finally
        {
            if (context != 0)
            {
                EVP_PKEY_CTX_free(context);
            }

            if (peer != 0)
            {
                EVP_PKEY_free(peer);
            }

            EVP_PKEY_free(pkey);
        }
    }

    /// <summary>Fills <paramref name="privateKey"/> with random bytes and derives its public key.</summary>
    private static void GenerateKey(int type, Span<byte> privateKey, Span<byte> publicKey)
    {
        RequireLength(privateKey.Length, KeySize, nameof(privateKey));
        RequireLength(publicKey.Length, KeySize, nameof(publicKey));
        RandomNumberGenerator.Fill(privateKey);
        GetRawPublicKey(type, privateKey, publicKey);
    }

    /// <summary>Derives the public key of a raw private key after checking both lengths.</summary>
    private static void GetPublicKey(int type, ReadOnlySpan<byte> privateKey, Span<byte> publicKey)
    {
        RequireLength(privateKey.Length, KeySize, nameof(privateKey));
        RequireLength(publicKey.Length, KeySize, nameof(publicKey));
        GetRawPublicKey(type, privateKey, publicKey);
    }

    private static nint NewRawPrivateKey(int type, ReadOnlySpan<byte> privateKey)
    {
        nint pkey;
        fixed (byte* keyPointer = privateKey)
        {
            pkey = EVP_PKEY_new_raw_private_key(type, 0, keyPointer, (nuint)privateKey.Length);
        }

        return pkey != 0 ? pkey : throw CreateException(nameof(EVP_PKEY_new_raw_private_key));
    }

    private static void GetRawPublicKey(int type, ReadOnlySpan<byte> privateKey, Span<byte> publicKey)
    {
        nint pkey = NewRawPrivateKey(type, privateKey);
        try
        {
            nuint length = (nuint)publicKey.Length;
            fixed (byte* publicPointer = publicKey)
            {
                if (EVP_PKEY_get_raw_public_key(pkey, publicPointer, &length) != 1)
                {
                    throw CreateException(nameof(EVP_PKEY_get_raw_public_key));
                }
            }

            if (length != KeySize)
            {
                throw new CryptographicException("OpenSSL EVP_PKEY_get_raw_public_key returned an unexpected length.");
            }
        }
        finally
        {
            EVP_PKEY_free(pkey);
        }
    }

    private static bool IsAllZero(ReadOnlySpan<byte> value)
    {
        // Constant time: no early exit on the (secret) shared value.
        int accumulator = 0;
        foreach (byte b in value)
        {
            accumulator |= b;
        }

        return accumulator == 0;
    }

    private static void RequireLength(int actual, int expected, string parameterName)
    {
        if (actual != expected)
        {
            throw new ArgumentException($"Expected exactly {expected} bytes, got {actual}.", parameterName);
        }
    }
}
