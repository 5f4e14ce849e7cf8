namespace CircuitRelay.Crypto;

/// <summary>
/// Ed25519 signatures (RFC 8032) and X25519 key agreement (RFC 7748), behind an interface so that a
/// host can replace the default OpenSSL provider (<see cref="Curve25519.Default"/>).
/// </summary>
/// <remarks>
/// All keys, seeds and results are raw byte strings in the RFC encodings. Output spans must have
/// exactly the documented length; implementations throw <see cref="ArgumentException"/> otherwise.
/// </remarks>
internal interface ICurve25519
{
    /// <summary>Generates a new Ed25519 key pair from a cryptographically secure random seed.</summary>
    /// <param name="privateSeed32">Receives the 32-byte private seed.</param>
    /// <param name="publicKey32">Receives the 32-byte public key.</param>
    void Ed25519GenerateKey(Span<byte> privateSeed32, Span<byte> publicKey32);

    /// <summary>Derives the Ed25519 public key of a private seed.</summary>
    /// <param name="privateSeed32">The 32-byte private seed.</param>
    /// <param name="publicKey32">Receives the 32-byte public key.</param>
    void Ed25519GetPublicKey(ReadOnlySpan<byte> privateSeed32, Span<byte> publicKey32);

    /// <summary>Signs <paramref name="message"/> itself (pure Ed25519, no pre-hash).</summary>
    /// <param name="privateSeed32">The 32-byte private seed.</param>
    /// <param name="message">The message to sign; may be empty.</param>
    /// <param name="signature64">Receives the 64-byte signature.</param>
    void Ed25519Sign(ReadOnlySpan<byte> privateSeed32, ReadOnlySpan<byte> message, Span<byte> signature64);

    /// <summary>Verifies a pure Ed25519 signature.</summary>
    /// <param name="publicKey32">The 32-byte public key.</param>
    /// <param name="message">The signed message.</param>
    /// <param name="signature64">The 64-byte signature.</param>
    /// <returns>
    /// <see langword="true"/> for a valid signature; <see langword="false"/> otherwise, including for
    /// inputs of the wrong length. Never throws for malformed input.
    /// </returns>
    bool Ed25519Verify(ReadOnlySpan<byte> publicKey32, ReadOnlySpan<byte> message, ReadOnlySpan<byte> signature64);

    /// <summary>Generates a new X25519 key pair from a cryptographically secure random private key.</summary>
    /// <param name="privateKey32">Receives the 32-byte private key.</param>
    /// <param name="publicKey32">Receives the 32-byte public key, X25519(private, 9).</param>
    void X25519GenerateKey(Span<byte> privateKey32, Span<byte> publicKey32);

    /// <summary>Derives the X25519 public key, X25519(private, 9).</summary>
    /// <param name="privateKey32">The 32-byte private key (clamped by the function, not by the caller).</param>
    /// <param name="publicKey32">Receives the 32-byte public key.</param>
    void X25519GetPublicKey(ReadOnlySpan<byte> privateKey32, Span<byte> publicKey32);

    /// <summary>Computes the X25519 shared secret, X25519(private, peer public).</summary>
    /// <param name="privateKey32">The local 32-byte private key.</param>
    /// <param name="peerPublicKey32">The peer's 32-byte public key (u-coordinate).</param>
    /// <param name="sharedSecret32">Receives the 32-byte shared secret.</param>
    /// <returns>
    /// <see langword="true"/> on success; <see langword="false"/> when the result is all zeros (the peer
    /// sent a low-order point) or the peer key is otherwise unusable. On <see langword="false"/>
    /// <paramref name="sharedSecret32"/> is cleared.
    /// </returns>
    bool X25519Agree(ReadOnlySpan<byte> privateKey32, ReadOnlySpan<byte> peerPublicKey32, Span<byte> sharedSecret32);
}
