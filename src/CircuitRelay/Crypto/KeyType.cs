namespace CircuitRelay.Crypto;

/// <summary>libp2p key types, with the values of the <c>KeyType</c> enum in the key protobuf.</summary>
public enum KeyType
{
    /// <summary>RSA (2048 to 8192 bits); signatures are RSASSA-PKCS1-v1_5 over SHA-256.</summary>
    Rsa = 0,

    /// <summary>Ed25519 (RFC 8032); signatures cover the message itself.</summary>
    Ed25519 = 1,

    /// <summary>ECDSA on secp256k1; signatures are DER-encoded, over SHA-256.</summary>
    Secp256k1 = 2,

    /// <summary>ECDSA on a NIST curve (P-256, P-384 or P-521); signatures are DER-encoded, over SHA-256.</summary>
    Ecdsa = 3,
}
