using System.Security.Cryptography;

namespace CircuitRelay.Crypto;

/// <summary>
/// The peer id multihash of a serialized public key (digest 7.3): identity multihash for keys of at most
/// 42 bytes, sha2-256 otherwise.
/// </summary>
internal static class PeerIdMultihash
{
    internal const int MaxInlineKeyLength = 42;
    internal const byte IdentityCode = 0x00;
    internal const byte Sha256Code = 0x12;
    internal const int Sha256Length = 32;

    internal static byte[] FromSerializedPublicKey(ReadOnlySpan<byte> serializedPublicKey)
    {
        if (serializedPublicKey.Length <= MaxInlineKeyLength)
        {
            var inline = new byte[2 + serializedPublicKey.Length];
            inline[0] = IdentityCode;
            inline[1] = (byte)serializedPublicKey.Length;
            serializedPublicKey.CopyTo(inline.AsSpan(2));
            return inline;
        }

        var hashed = new byte[2 + Sha256Length];
        hashed[0] = Sha256Code;
        hashed[1] = Sha256Length;
        SHA256.HashData(serializedPublicKey, hashed.AsSpan(2));
        return hashed;
    }

    /// <summary>
    /// True when <paramref name="multihash"/> is a well-formed peer id: an identity multihash or a
    /// 32-byte sha2-256 multihash, minimal varints, nothing after the digest.
    /// </summary>
    internal static bool IsValid(ReadOnlySpan<byte> multihash) => TrySplit(multihash, out _, out _);

    /// <summary>The serialized public key inside an identity-multihash peer id.</summary>
    internal static bool TryGetInlineKey(ReadOnlySpan<byte> multihash, out ReadOnlySpan<byte> serializedPublicKey)
    {
        if (TrySplit(multihash, out ulong code, out serializedPublicKey) && code == IdentityCode)
        {
            return true;
        }

        serializedPublicKey = default;
        return false;
    }

    private static bool TrySplit(ReadOnlySpan<byte> multihash, out ulong code, out ReadOnlySpan<byte> digest)
    {
        digest = default;
        if (!CryptoVarint.TryRead(multihash, out code, out int codeLength)
            || !CryptoVarint.TryRead(multihash[codeLength..], out ulong length, out int lengthLength))
        {
            return false;
        }

        ReadOnlySpan<byte> rest = multihash[(codeLength + lengthLength)..];
        if ((ulong)rest.Length != length)
        {
            return false;
        }

        bool known = code switch
        {
            IdentityCode => true,
            Sha256Code => length == Sha256Length,
            _ => false,
        };
        if (!known)
        {
            return false;
        }

        digest = rest;
        return true;
    }
}
