namespace CircuitRelay.Crypto;

// STUB: replaced by the crypto work (see helper task). Only the shape is final.
/// <summary>libp2p key types, as in the key protobuf.</summary>
public enum KeyType
{
    /// <summary>RSA.</summary>
    Rsa = 0,
    /// <summary>Ed25519.</summary>
    Ed25519 = 1,
    /// <summary>secp256k1.</summary>
    Secp256k1 = 2,
    /// <summary>ECDSA (P-256).</summary>
    Ecdsa = 3,
}

/// <summary>A libp2p public key.</summary>
public sealed class PublicKey
{
    /// <summary>The key type.</summary>
    public KeyType Type { get; }

    private PublicKey(KeyType type) => Type = type;
}
