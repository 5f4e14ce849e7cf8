using CircuitRelay.Crypto;

namespace CircuitRelay.Abstractions;

/// <summary>
/// The local node's identity, as the host knows it. The relay code uses it to sign reservation
/// vouchers and to recognise itself in vouchers it receives.
/// </summary>
/// <remarks>
/// Host implementers: keep the private key inside your implementation; the relay only ever asks
/// for a signature over a buffer it built (the signed-envelope input).
/// </remarks>
public interface ILocalIdentity
{
    /// <summary>The local peer id (derived from <see cref="PublicKey"/>).</summary>
    PeerId PeerId { get; }

    /// <summary>The local identity public key.</summary>
    PublicKey PublicKey { get; }

    /// <summary>
    /// Signs <paramref name="data"/> with the identity key under the libp2p rules for the key type
    /// (Ed25519 over the message itself; ECDSA, secp256k1 and RSA over its SHA-256).
    /// </summary>
    /// <param name="data">The bytes to sign.</param>
    /// <returns>The signature in the libp2p encoding for the key type.</returns>
    byte[] Sign(ReadOnlySpan<byte> data);
}
