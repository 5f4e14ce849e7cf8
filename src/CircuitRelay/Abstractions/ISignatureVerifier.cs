using CircuitRelay.Crypto;

namespace CircuitRelay.Abstractions;

/// <summary>
/// Verifies libp2p signatures for any key type the host supports.
/// </summary>
/// <remarks>
/// Host implementers may return the library's built-in <c>SignatureVerifier.Default</c>, or supply
/// their own (for example one backed by a different crypto provider).
/// </remarks>
public interface ISignatureVerifier
{
    /// <summary>
    /// Returns <see langword="true"/> when <paramref name="signature"/> is a valid signature of
    /// <paramref name="data"/> by <paramref name="key"/>. Returns <see langword="false"/> for an
    /// invalid signature or an unsupported key type; never throws for malformed input.
    /// </summary>
    bool Verify(PublicKey key, ReadOnlySpan<byte> data, ReadOnlySpan<byte> signature);
}
