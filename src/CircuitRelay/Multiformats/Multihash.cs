namespace CircuitRelay.Multiformats;

/// <summary>Multihash framing: <c>uvarint(code) || uvarint(digest length) || digest</c>.</summary>
internal static class Multihash
{
    /// <summary>The identity "hash" (the digest is the data itself).</summary>
    public const ulong Identity = 0x00;

    /// <summary>SHA2-256.</summary>
    public const ulong Sha2_256 = 0x12;

    /// <summary>Splits a multihash that must span all of <paramref name="multihash"/>.</summary>
    /// <param name="multihash">The bytes.</param>
    /// <param name="code">The hash function code.</param>
    /// <param name="digestOffset">Where the digest starts.</param>
    /// <param name="digestLength">The digest length; the digest ends exactly at the end of the input.</param>
    /// <returns>False when the framing is malformed.</returns>
    public static bool TryParse(ReadOnlySpan<byte> multihash, out ulong code, out int digestOffset, out int digestLength)
    {
        digestOffset = 0;
        digestLength = 0;
        int offset = 0;
        if (!Varint.TryReadAt(multihash, ref offset, out code) || !Varint.TryReadAt(multihash, ref offset, out ulong length))
        {
            return false;
        }

        if (length != (ulong)(multihash.Length - offset))
        {
            return false;
        }

        digestOffset = offset;
        digestLength = (int)length;
        return true;
    }

    /// <summary>Builds a multihash from a code and a digest.</summary>
    public static byte[] Create(ulong code, ReadOnlySpan<byte> digest)
    {
        int codeLength = Varint.GetByteCount(code);
        int lengthLength = Varint.GetByteCount((ulong)digest.Length);
        var bytes = new byte[codeLength + lengthLength + digest.Length];
        Varint.Write(bytes, code);
        Varint.Write(bytes.AsSpan(codeLength), (ulong)digest.Length);
        digest.CopyTo(bytes.AsSpan(codeLength + lengthLength));
        return bytes;
    }
}
