using System.Security.Cryptography;
using Google.Protobuf;

namespace CircuitRelay.Crypto;

/// <summary>
/// A libp2p private key that signs under the digest 7.5 rules. Hosts and tests use it; the relay code
/// only sees <see cref="Abstractions.ILocalIdentity"/>.
/// </summary>
/// <remarks>
/// Instances are safe to use from several threads. <see cref="Dispose"/> wipes the Ed25519 seed and
/// releases the native key; signing afterwards throws <see cref="ObjectDisposedException"/>.
/// </remarks>
public sealed class PrivateKey : IDisposable
{
    private const int Ed25519Length = 64;
    private const int Ed25519LegacyLength = 96;

    private readonly ICurve25519? _curve25519;
    private readonly byte[]? _ed25519Seed;
    private readonly ECDsa? _ecdsa;
    private readonly RSA? _rsa;
    private readonly Lock _lock = new();
    private bool _disposed;

    private PrivateKey(KeyType type, PublicKey publicKey, ICurve25519? curve25519 = null, byte[]? ed25519Seed = null, ECDsa? ecdsa = null, RSA? rsa = null)
    {
        Type = type;
        PublicKey = publicKey;
        _curve25519 = curve25519;
        _ed25519Seed = ed25519Seed;
        _ecdsa = ecdsa;
        _rsa = rsa;
    }

    /// <summary>The key type.</summary>
    public KeyType Type { get; }

    /// <summary>The matching public key.</summary>
    public PublicKey PublicKey { get; }

    /// <summary>Generates a new Ed25519 key with <see cref="Curve25519.Default"/>.</summary>
    /// <returns>The key.</returns>
    public static PrivateKey GenerateEd25519() => GenerateEd25519(Curve25519.Default);

    /// <summary>Generates a new secp256k1 key.</summary>
    /// <returns>The key.</returns>
    public static PrivateKey GenerateSecp256k1()
    {
        var ecdsa = ECDsa.Create(Secp256k1.Curve);
        try
        {
            return new PrivateKey(KeyType.Secp256k1, PublicKey.FromSecp256k1(ecdsa.ExportParameters(false).Q), ecdsa: ecdsa);
        }
        catch
        {
            ecdsa.Dispose();
            throw;
        }
    }

    /// <summary>Generates a new ECDSA key on P-256.</summary>
    /// <returns>The key.</returns>
    public static PrivateKey GenerateEcdsaP256()
    {
        var ecdsa = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        try
        {
            return new PrivateKey(KeyType.Ecdsa, PublicKey.FromEcdsa(ecdsa), ecdsa: ecdsa);
        }
        catch
        {
            ecdsa.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Decodes a serialized <c>PrivateKey</c> protobuf (the libp2p on-disk format, digest 7.1 and 7.2).
    /// </summary>
    /// <param name="serialized">
    /// The protobuf. Data per type: Ed25519 64 bytes seed ‖ public key (or the legacy 96 bytes
    /// seed ‖ public ‖ public); secp256k1 the 32-byte scalar; ECDSA a DER SEC1 ECPrivateKey; RSA a DER
    /// PKCS#1 RSAPrivateKey.
    /// </param>
    /// <returns>The key.</returns>
    /// <exception cref="FormatException">
    /// The protobuf is malformed, the type is unknown, the data is not a valid key of that type, or an
    /// embedded public key does not match the private key.
    /// </exception>
    public static PrivateKey FromProtobuf(ReadOnlySpan<byte> serialized) => FromProtobuf(serialized, Curve25519.Default);

    internal static PrivateKey FromProtobuf(ReadOnlySpan<byte> serialized, ICurve25519 curve25519)
    {
        Pb.PrivateKey message;
        try
        {
            message = Pb.PrivateKey.Parser.ParseFrom(serialized);
        }
        catch (InvalidProtocolBufferException ex)
        {
            throw new FormatException("The private key is not a valid protobuf.", ex);
        }

        if (!message.HasType || !message.HasData)
        {
            throw new FormatException("The private key protobuf lacks the Type or Data field.");
        }

        ReadOnlySpan<byte> data = message.Data.Span;
        return (KeyType)message.Type switch
        {
            KeyType.Ed25519 => ImportEd25519(data, curve25519),
            KeyType.Secp256k1 => ImportSecp256k1(data),
            KeyType.Ecdsa => ImportEcdsa(data),
            KeyType.Rsa => ImportRsa(data),
            _ => throw new FormatException($"Unknown key type {(int)message.Type}."),
        };
    }

    /// <summary>
    /// Returns the serialized <c>PrivateKey</c> protobuf in the encodings <see cref="FromProtobuf(ReadOnlySpan{byte})"/>
    /// reads (Ed25519 in the 64-byte form). The result holds secret material: clear it after use.
    /// </summary>
    /// <returns>The serialized key.</returns>
    public byte[] ToProtobuf()
    {
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            byte[] data = Type switch
            {
                KeyType.Ed25519 => [.. _ed25519Seed!, .. PublicKey.Data.Span],
                KeyType.Secp256k1 => ExportSecp256k1Scalar(_ecdsa!),
                KeyType.Ecdsa => _ecdsa!.ExportECPrivateKey(),
                KeyType.Rsa => _rsa!.ExportRSAPrivateKey(),
                _ => throw new InvalidOperationException("Unknown key type."),
            };

            try
            {
                return new Pb.PrivateKey { Type = (Pb.KeyType)Type, Data = ByteString.CopyFrom(data) }.ToByteArray();
            }
            finally
            {
                CryptographicOperations.ZeroMemory(data);
            }
        }
    }

    /// <summary>
    /// Signs <paramref name="data"/>: Ed25519 over the data itself; secp256k1 and ECDSA over its SHA-256,
    /// DER-encoded (secp256k1 in low-S form); RSA over its SHA-256 with PKCS#1 v1.5.
    /// </summary>
    /// <param name="data">The bytes to sign.</param>
    /// <returns>The signature.</returns>
    /// <exception cref="ObjectDisposedException">The key has been disposed.</exception>
    public byte[] Sign(ReadOnlySpan<byte> data)
    {
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            switch (Type)
            {
                case KeyType.Ed25519:
                {
                    var signature = new byte[OpenSslCurve25519.SignatureSize];
                    _curve25519!.Ed25519Sign(_ed25519Seed, data, signature);
                    return signature;
                }

                case KeyType.Secp256k1:
                {
                    Span<byte> hash = stackalloc byte[SHA256.HashSizeInBytes];
                    SHA256.HashData(data, hash);
                    byte[] p1363 = _ecdsa!.SignHash(hash.ToArray(), DSASignatureFormat.IeeeP1363FixedFieldConcatenation);
                    return Secp256k1.ToLowSDer(p1363);
                }

                case KeyType.Ecdsa:
                {
                    Span<byte> hash = stackalloc byte[SHA256.HashSizeInBytes];
                    SHA256.HashData(data, hash);
                    return _ecdsa!.SignHash(hash.ToArray(), DSASignatureFormat.Rfc3279DerSequence);
                }

                case KeyType.Rsa:
                    return _rsa!.SignData(data.ToArray(), HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);

                default:
                    throw new InvalidOperationException("Unknown key type.");
            }
        }
    }

    /// <summary>Wipes the Ed25519 seed and releases the native key. Idempotent.</summary>
    public void Dispose()
    {
        lock (_lock)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            if (_ed25519Seed is not null)
            {
                CryptographicOperations.ZeroMemory(_ed25519Seed);
            }

            _ecdsa?.Dispose();
            _rsa?.Dispose();
        }
    }

    internal static PrivateKey GenerateEd25519(ICurve25519 curve25519)
    {
        ArgumentNullException.ThrowIfNull(curve25519);
        byte[] seed = NewSeedBuffer();
        Span<byte> publicKey = stackalloc byte[OpenSslCurve25519.KeySize];
        curve25519.Ed25519GenerateKey(seed, publicKey);
        return new PrivateKey(KeyType.Ed25519, PublicKey.FromEd25519(publicKey), curve25519, seed);
    }

    /// <summary>Imports an RSA key; used by tests and hosts that already hold one.</summary>
    internal static PrivateKey FromRsa(RSA rsa)
    {
        ArgumentNullException.ThrowIfNull(rsa);
        byte[] pkcs1 = rsa.ExportRSAPrivateKey();
        try
        {
            return ImportRsa(pkcs1);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(pkcs1);
        }
    }

    private static byte[] NewSeedBuffer() => GC.AllocateArray<byte>(OpenSslCurve25519.KeySize, pinned: true);

    private static PrivateKey ImportEd25519(ReadOnlySpan<byte> data, ICurve25519 curve25519)
    {
        if (data.Length == Ed25519LegacyLength)
        {
            if (!data[32..64].SequenceEqual(data[64..96]))
            {
                throw new FormatException("Legacy 96-byte Ed25519 private key: the two public key copies differ.");
            }
        }
        else if (data.Length != Ed25519Length)
        {
            throw new FormatException($"An Ed25519 private key is 64 bytes (or legacy 96), got {data.Length}.");
        }

        byte[] seed = NewSeedBuffer();
        data[..32].CopyTo(seed);
        try
        {
            Span<byte> derived = stackalloc byte[OpenSslCurve25519.KeySize];
            curve25519.Ed25519GetPublicKey(seed, derived);
            if (!derived.SequenceEqual(data[32..64]))
            {
                throw new FormatException("The Ed25519 public key does not belong to the private seed.");
            }

            return new PrivateKey(KeyType.Ed25519, PublicKey.FromEd25519(derived), curve25519, seed);
        }
        catch
        {
            CryptographicOperations.ZeroMemory(seed);
            throw;
        }
    }

    private static PrivateKey ImportSecp256k1(ReadOnlySpan<byte> data)
    {
        if (!Secp256k1.IsValidPrivateScalar(data))
        {
            throw new FormatException("A secp256k1 private key is a 32-byte scalar in [1, n-1].");
        }

        byte[] d = data.ToArray();
        ECDsa? ecdsa = null;
        try
        {
            ecdsa = ECDsa.Create(new ECParameters { Curve = Secp256k1.Curve, D = d });
            var key = new PrivateKey(KeyType.Secp256k1, PublicKey.FromSecp256k1(ecdsa.ExportParameters(false).Q), ecdsa: ecdsa);
            ecdsa = null;
            return key;
        }
        catch (CryptographicException ex)
        {
            throw new FormatException("The secp256k1 private key could not be imported.", ex);
        }
        finally
        {
            ecdsa?.Dispose();
            CryptographicOperations.ZeroMemory(d);
        }
    }

    private static PrivateKey ImportEcdsa(ReadOnlySpan<byte> data)
    {
        ECDsa? ecdsa = ECDsa.Create();
        try
        {
            ecdsa.ImportECPrivateKey(data, out int bytesRead);
            if (bytesRead != data.Length)
            {
                throw new FormatException("Trailing bytes after the ECDSA ECPrivateKey.");
            }

            if (!PublicKey.IsSupportedEcdsaCurve(ecdsa.ExportParameters(false).Curve))
            {
                throw new FormatException("The ECDSA key is not on P-256, P-384 or P-521.");
            }

            var key = new PrivateKey(KeyType.Ecdsa, PublicKey.FromEcdsa(ecdsa), ecdsa: ecdsa);
            ecdsa = null;
            return key;
        }
        catch (CryptographicException ex)
        {
            throw new FormatException("The ECDSA private key is not a valid DER ECPrivateKey.", ex);
        }
        finally
        {
            ecdsa?.Dispose();
        }
    }

    private static PrivateKey ImportRsa(ReadOnlySpan<byte> data)
    {
        RSA? rsa = RSA.Create();
        try
        {
            rsa.ImportRSAPrivateKey(data, out int bytesRead);
            if (bytesRead != data.Length)
            {
                throw new FormatException("Trailing bytes after the RSA private key.");
            }

            if (rsa.KeySize is < PublicKey.MinRsaKeyBits or > PublicKey.MaxRsaKeyBits)
            {
                throw new FormatException($"RSA keys must be {PublicKey.MinRsaKeyBits} to {PublicKey.MaxRsaKeyBits} bits, got {rsa.KeySize}.");
            }

            var key = new PrivateKey(KeyType.Rsa, PublicKey.FromRsa(rsa), rsa: rsa);
            rsa = null;
            return key;
        }
        catch (CryptographicException ex)
        {
            throw new FormatException("The RSA private key is not a valid DER PKCS#1 RSAPrivateKey.", ex);
        }
        finally
        {
            rsa?.Dispose();
        }
    }

    private static byte[] ExportSecp256k1Scalar(ECDsa ecdsa)
    {
        ECParameters parameters = ecdsa.ExportParameters(includePrivateParameters: true);
        byte[] d = parameters.D ?? throw new CryptographicException("The secp256k1 key has no private scalar.");
        if (d.Length == Secp256k1.FieldSize)
        {
            return d;
        }

        // Left-pad to 32 bytes should the platform export a shorter scalar.
        var padded = new byte[Secp256k1.FieldSize];
        d.CopyTo(padded, Secp256k1.FieldSize - d.Length);
        CryptographicOperations.ZeroMemory(d);
        return padded;
    }
}
