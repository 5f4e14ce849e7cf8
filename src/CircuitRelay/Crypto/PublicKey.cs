using System.Diagnostics.CodeAnalysis;
using System.Security.Cryptography;
using Google.Protobuf;

namespace CircuitRelay.Crypto;

/// <summary>
/// A libp2p public key: a <see cref="KeyType"/> and the per-type encoding of digest 7.2. Immutable; the
/// shape of <see cref="Data"/> is validated on creation.
/// </summary>
public sealed class PublicKey : IEquatable<PublicKey>
{
    internal const int MinRsaKeyBits = 2048;
    internal const int MaxRsaKeyBits = 8192;

    private readonly byte[] _data;
    private readonly byte[] _protobuf;
    private readonly ECParameters _ecParameters;
    private readonly RSAParameters _rsaParameters;
    private PeerId? _peerId;

    private PublicKey(KeyType type, byte[] data, ECParameters ecParameters, RSAParameters rsaParameters)
    {
        Type = type;
        _data = data;
        _ecParameters = ecParameters;
        _rsaParameters = rsaParameters;
        _protobuf = new Pb.PublicKey { Type = (Pb.KeyType)type, Data = ByteString.CopyFrom(data) }.ToByteArray();
    }

    /// <summary>The key type.</summary>
    public KeyType Type { get; }

    /// <summary>
    /// The per-type encoding: Ed25519 raw 32 bytes; secp256k1 33-byte compressed SEC1 point; ECDSA and RSA
    /// DER SubjectPublicKeyInfo.
    /// </summary>
    public ReadOnlyMemory<byte> Data => _data;

    /// <summary>Creates a key from its type and per-type encoding, validating the encoding.</summary>
    /// <param name="type">The key type.</param>
    /// <param name="data">
    /// Ed25519: 32 bytes. secp256k1: a 33-byte compressed point on the curve. ECDSA: DER SPKI of a P-256,
    /// P-384 or P-521 key. RSA: DER SPKI of a 2048 to 8192-bit key.
    /// </param>
    /// <returns>The key.</returns>
    /// <exception cref="FormatException">The type is unknown or the data does not encode a key of that type.</exception>
    public static PublicKey Create(KeyType type, ReadOnlySpan<byte> data) => type switch
    {
        KeyType.Ed25519 => CreateEd25519(data),
        KeyType.Secp256k1 => CreateSecp256k1(data),
        KeyType.Ecdsa => CreateEcdsa(data),
        KeyType.Rsa => CreateRsa(data),
        _ => throw new FormatException($"Unknown key type {(int)type}."),
    };

    /// <summary>Decodes a serialized <c>PublicKey</c> protobuf (digest 7.1).</summary>
    /// <param name="serialized">The protobuf bytes, which must be in the deterministic encoding.</param>
    /// <returns>The key.</returns>
    /// <exception cref="FormatException">
    /// The bytes are not a protobuf, a field is missing, the type is unknown, the data is not a valid key,
    /// or the encoding is not the deterministic one (field order, minimal varints, no extra fields).
    /// </exception>
    public static PublicKey FromProtobuf(ReadOnlySpan<byte> serialized)
    {
        Pb.PublicKey message;
        try
        {
            message = Pb.PublicKey.Parser.ParseFrom(serialized);
        }
        catch (InvalidProtocolBufferException ex)
        {
            throw new FormatException("The public key is not a valid protobuf.", ex);
        }

        if (!message.HasType || !message.HasData)
        {
            throw new FormatException("The public key protobuf lacks the Type or Data field.");
        }

        PublicKey key = Create((KeyType)message.Type, message.Data.Span);
        if (!key._protobuf.AsSpan().SequenceEqual(serialized))
        {
            throw new FormatException("The public key protobuf is not in the deterministic encoding.");
        }

        return key;
    }

    /// <summary>Decodes a serialized <c>PublicKey</c> protobuf without throwing.</summary>
    /// <param name="serialized">The protobuf bytes.</param>
    /// <param name="key">The key, when the bytes are valid.</param>
    /// <returns><see langword="true"/> when <paramref name="serialized"/> is a valid key (see <see cref="FromProtobuf"/>).</returns>
    public static bool TryFromProtobuf(ReadOnlySpan<byte> serialized, [NotNullWhen(true)] out PublicKey? key)
    {
        try
        {
            key = FromProtobuf(serialized);
            return true;
        }
        catch (FormatException)
        {
            key = null;
            return false;
        }
    }

    /// <summary>Returns the deterministic <c>PublicKey</c> protobuf: <c>08 type 12 len data</c>.</summary>
    /// <returns>A new array holding the serialized key.</returns>
    public byte[] ToProtobuf() => (byte[])_protobuf.Clone();

    /// <summary>
    /// Returns the peer id of this key: the identity multihash of <see cref="ToProtobuf"/> when it is at
    /// most 42 bytes (Ed25519, secp256k1), its sha2-256 multihash otherwise (ECDSA, RSA).
    /// </summary>
    /// <returns>The peer id.</returns>
    public PeerId ToPeerId() => _peerId ??= PeerId.FromBytes(PeerIdMultihash.FromSerializedPublicKey(_protobuf));

    /// <summary>Extracts the public key inlined in an identity-multihash peer id.</summary>
    /// <param name="peerId">The peer id.</param>
    /// <param name="key">The key, when the peer id inlines a valid one.</param>
    /// <returns>
    /// <see langword="true"/> for an identity peer id that holds a valid key; <see langword="false"/> for a
    /// hashed peer id (ECDSA, RSA) or an invalid one.
    /// </returns>
    public static bool TryFromPeerId(PeerId peerId, [NotNullWhen(true)] out PublicKey? key)
    {
        ArgumentNullException.ThrowIfNull(peerId);
        key = null;
        return PeerIdMultihash.TryGetInlineKey(peerId.ToByteArray(), out ReadOnlySpan<byte> serialized)
            && TryFromProtobuf(serialized, out key);
    }

    /// <inheritdoc />
    public bool Equals(PublicKey? other) =>
        other is not null && Type == other.Type && _data.AsSpan().SequenceEqual(other._data);

    /// <inheritdoc />
    public override bool Equals(object? obj) => Equals(obj as PublicKey);

    /// <inheritdoc />
    public override int GetHashCode()
    {
        var hash = new HashCode();
        hash.Add(Type);
        hash.AddBytes(_data);
        return hash.ToHashCode();
    }

    /// <summary>Returns the key type and the hex of <see cref="Data"/>.</summary>
    /// <returns>A diagnostic string.</returns>
    public override string ToString() => $"{Type}:{Convert.ToHexStringLower(_data)}";

    /// <summary>Verifies under the digest 7.5 rules. May throw <see cref="CryptographicException"/>.</summary>
    internal bool VerifyCore(ICurve25519 curve25519, ReadOnlySpan<byte> data, ReadOnlySpan<byte> signature)
    {
        switch (Type)
        {
            case KeyType.Ed25519:
                return signature.Length == OpenSslCurve25519.SignatureSize
                    && curve25519.Ed25519Verify(_data, data, signature);

            case KeyType.Secp256k1:
            case KeyType.Ecdsa:
            {
                if (signature.IsEmpty)
                {
                    return false;
                }

                Span<byte> hash = stackalloc byte[SHA256.HashSizeInBytes];
                SHA256.HashData(data, hash);
                using var ecdsa = ECDsa.Create(_ecParameters);
                return ecdsa.VerifyHash(hash, signature, DSASignatureFormat.Rfc3279DerSequence);
            }

            case KeyType.Rsa:
            {
                if (signature.IsEmpty)
                {
                    return false;
                }

                using var rsa = RSA.Create(_rsaParameters);
                return rsa.VerifyData(data, signature, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
            }

            default:
                return false;
        }
    }

    internal static PublicKey FromEd25519(ReadOnlySpan<byte> publicKey32) => CreateEd25519(publicKey32);

    internal static PublicKey FromSecp256k1(ECPoint q) =>
        new(KeyType.Secp256k1, Secp256k1.Compress(q), new ECParameters { Curve = Secp256k1.Curve, Q = q }, default);

    internal static PublicKey FromEcdsa(ECDsa ecdsa) =>
        new(KeyType.Ecdsa, ecdsa.ExportSubjectPublicKeyInfo(), ecdsa.ExportParameters(includePrivateParameters: false), default);

    internal static PublicKey FromRsa(RSA rsa) =>
        new(KeyType.Rsa, rsa.ExportSubjectPublicKeyInfo(), default, rsa.ExportParameters(includePrivateParameters: false));

    /// <summary>True when <paramref name="curve"/> is a named NIST curve libp2p ECDSA keys may use.</summary>
    internal static bool IsSupportedEcdsaCurve(ECCurve curve) =>
        curve.IsNamed && curve.Oid.Value is "1.2.840.10045.3.1.7" or "1.3.132.0.34" or "1.3.132.0.35";

    private static PublicKey CreateEd25519(ReadOnlySpan<byte> data)
    {
        if (data.Length != OpenSslCurve25519.KeySize)
        {
            throw new FormatException($"An Ed25519 public key is 32 bytes, got {data.Length}.");
        }

        return new PublicKey(KeyType.Ed25519, data.ToArray(), default, default);
    }

    private static PublicKey CreateSecp256k1(ReadOnlySpan<byte> data)
    {
        if (!Secp256k1.TryDecompress(data, out ECPoint q))
        {
            throw new FormatException("A secp256k1 public key is a 33-byte compressed point on the curve.");
        }

        var parameters = new ECParameters { Curve = Secp256k1.Curve, Q = q };
        try
        {
            // OpenSSL re-checks the point when the key is imported.
            using var ecdsa = ECDsa.Create(parameters);
        }
        catch (CryptographicException ex)
        {
            throw new FormatException("The secp256k1 public key is not a valid curve point.", ex);
        }

        return new PublicKey(KeyType.Secp256k1, data.ToArray(), parameters, default);
    }

    private static PublicKey CreateEcdsa(ReadOnlySpan<byte> data)
    {
        try
        {
            using var ecdsa = ECDsa.Create();
            ecdsa.ImportSubjectPublicKeyInfo(data, out int bytesRead);
            if (bytesRead != data.Length)
            {
                throw new FormatException("Trailing bytes after the ECDSA SubjectPublicKeyInfo.");
            }

            ECParameters parameters = ecdsa.ExportParameters(includePrivateParameters: false);
            if (!IsSupportedEcdsaCurve(parameters.Curve))
            {
                throw new FormatException("The ECDSA key is not on P-256, P-384 or P-521.");
            }

            return new PublicKey(KeyType.Ecdsa, data.ToArray(), parameters, default);
        }
        catch (CryptographicException ex)
        {
            throw new FormatException("The ECDSA public key is not a valid DER SubjectPublicKeyInfo.", ex);
        }
    }

    private static PublicKey CreateRsa(ReadOnlySpan<byte> data)
    {
        try
        {
            using var rsa = RSA.Create();
            rsa.ImportSubjectPublicKeyInfo(data, out int bytesRead);
            if (bytesRead != data.Length)
            {
                throw new FormatException("Trailing bytes after the RSA SubjectPublicKeyInfo.");
            }

            if (rsa.KeySize is < MinRsaKeyBits or > MaxRsaKeyBits)
            {
                throw new FormatException($"RSA keys must be {MinRsaKeyBits} to {MaxRsaKeyBits} bits, got {rsa.KeySize}.");
            }

            return new PublicKey(KeyType.Rsa, data.ToArray(), default, rsa.ExportParameters(includePrivateParameters: false));
        }
        catch (CryptographicException ex)
        {
            throw new FormatException("The RSA public key is not a valid DER SubjectPublicKeyInfo.", ex);
        }
    }
}
