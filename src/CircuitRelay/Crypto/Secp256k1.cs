using System.Formats.Asn1;
using System.Numerics;
using System.Security.Cryptography;

namespace CircuitRelay.Crypto;

/// <summary>
/// secp256k1 helpers around .NET's OpenSSL-backed <see cref="ECDsa"/>: SEC1 point compression and
/// decompression, scalar range checks and low-S DER signatures. No curve arithmetic beyond solving
/// y² = x³ + 7 for y when decoding a compressed point.
/// </summary>
internal static class Secp256k1
{
    internal const int FieldSize = 32;
    internal const int CompressedPointSize = 33;

    /// <summary>secp256k1 by OID (1.3.132.0.10).</summary>
    internal static ECCurve Curve => ECCurve.CreateFromValue("1.3.132.0.10");

    private static readonly BigInteger P = ParseHex("FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEFFFFFC2F");
    private static readonly BigInteger N = ParseHex("FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141");
    private static readonly BigInteger HalfN = N >> 1;
    private static readonly BigInteger SqrtExponent = (P + 1) >> 2;

    /// <summary>Decodes a 33-byte compressed SEC1 point; false if the bytes are not a point on the curve.</summary>
    internal static bool TryDecompress(ReadOnlySpan<byte> compressed, out ECPoint point)
    {
        point = default;
        if (compressed.Length != CompressedPointSize || (compressed[0] != 0x02 && compressed[0] != 0x03))
        {
            return false;
        }

        var x = new BigInteger(compressed[1..], isUnsigned: true, isBigEndian: true);
        if (x >= P)
        {
            return false;
        }

        BigInteger rhs = (BigInteger.ModPow(x, 3, P) + 7) % P;
        BigInteger y = BigInteger.ModPow(rhs, SqrtExponent, P);
        if (BigInteger.ModPow(y, 2, P) != rhs)
        {
            return false; // x³ + 7 is not a square: no point with this x.
        }

        bool wantOdd = compressed[0] == 0x03;
        if (!y.IsEven != wantOdd)
        {
            if (y.IsZero)
            {
                return false;
            }

            y = P - y;
        }

        point = new ECPoint { X = compressed[1..].ToArray(), Y = ToFixed(y) };
        return true;
    }

    internal static byte[] Compress(ECPoint point)
    {
        byte[] x = point.X ?? throw new CryptographicException("The EC point has no X coordinate.");
        byte[] y = point.Y ?? throw new CryptographicException("The EC point has no Y coordinate.");
        if (x.Length != FieldSize || y.Length != FieldSize)
        {
            throw new CryptographicException("Unexpected secp256k1 coordinate length.");
        }

        var compressed = new byte[CompressedPointSize];
        compressed[0] = (byte)(0x02 | (y[^1] & 1));
        x.CopyTo(compressed, 1);
        return compressed;
    }

    /// <summary>True when the 32-byte big-endian scalar is in [1, n - 1].</summary>
    internal static bool IsValidPrivateScalar(ReadOnlySpan<byte> scalar)
    {
        if (scalar.Length != FieldSize)
        {
            return false;
        }

        var d = new BigInteger(scalar, isUnsigned: true, isBigEndian: true);
        return !d.IsZero && d < N;
    }

    /// <summary>
    /// Converts an IEEE P1363 signature (r ‖ s, 32 bytes each) to DER, replacing s by n - s when s is in
    /// the upper half of the group order (BIP-62 low-S form, which Bitcoin-style verifiers expect).
    /// </summary>
    internal static byte[] ToLowSDer(ReadOnlySpan<byte> p1363)
    {
        if (p1363.Length != 2 * FieldSize)
        {
            throw new CryptographicException("Unexpected secp256k1 signature length.");
        }

        var r = new BigInteger(p1363[..FieldSize], isUnsigned: true, isBigEndian: true);
        var s = new BigInteger(p1363[FieldSize..], isUnsigned: true, isBigEndian: true);
        if (s > HalfN)
        {
            s = N - s;
        }

        var writer = new AsnWriter(AsnEncodingRules.DER);
        using (writer.PushSequence())
        {
            writer.WriteInteger(r);
            writer.WriteInteger(s);
        }

        return writer.Encode();
    }

    internal static byte[] ToFixed(BigInteger value)
    {
        var result = new byte[FieldSize];
        int length = value.GetByteCount(isUnsigned: true);
        if (!value.TryWriteBytes(result.AsSpan(FieldSize - length), out _, isUnsigned: true, isBigEndian: true))
        {
            throw new CryptographicException("Value does not fit in 32 bytes.");
        }

        return result;
    }

    private static BigInteger ParseHex(string hex) => new(Convert.FromHexString(hex), isUnsigned: true, isBigEndian: true);
}
