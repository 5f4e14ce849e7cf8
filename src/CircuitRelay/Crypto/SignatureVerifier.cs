using System.Security.Cryptography;
using CircuitRelay.Abstractions;

namespace CircuitRelay.Crypto;

/// <summary>
/// Verifies libp2p signatures for all four key types under the digest 7.5 rules: Ed25519 over the data
/// itself, secp256k1 and ECDSA as DER over SHA-256, RSA PKCS#1 v1.5 over SHA-256.
/// </summary>
public sealed class SignatureVerifier : ISignatureVerifier
{
    private readonly ICurve25519 _curve25519;

    /// <summary>Creates a verifier that checks Ed25519 signatures with <paramref name="curve25519"/>.</summary>
    /// <param name="curve25519">The Ed25519 provider.</param>
    internal SignatureVerifier(ICurve25519 curve25519)
    {
        ArgumentNullException.ThrowIfNull(curve25519);
        _curve25519 = curve25519;
    }

    /// <summary>A verifier on <see cref="Curve25519.Default"/> (OpenSSL) and .NET's ECDSA and RSA.</summary>
    public static SignatureVerifier Default { get; } = new(Curve25519.Default);

    /// <inheritdoc />
    public bool Verify(PublicKey key, ReadOnlySpan<byte> data, ReadOnlySpan<byte> signature)
    {
        ArgumentNullException.ThrowIfNull(key);
        try
        {
            return key.VerifyCore(_curve25519, data, signature);
        }
        catch (CryptographicException)
        {
            return false;
        }
    }
}
