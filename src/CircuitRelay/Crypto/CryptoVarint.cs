namespace CircuitRelay.Crypto;

/// <summary>Minimal unsigned varints (multiformats/unsigned-varint) for key, envelope and peer id bytes.</summary>
internal static class CryptoVarint
{
    private const int MaxBytes = 9;

    internal static int GetSize(ulong value)
    {
        int size = 1;
        while (value >= 0x80)
        {
            value >>= 7;
            size++;
        }

        return size;
    }

    internal static int Write(Span<byte> destination, ulong value)
    {
        int i = 0;
        while (value >= 0x80)
        {
            destination[i++] = (byte)(value | 0x80);
            value >>= 7;
        }

        destination[i++] = (byte)value;
        return i;
    }

    /// <summary>Reads a minimal varint of at most 9 bytes; false on truncation or a non-minimal form.</summary>
    internal static bool TryRead(ReadOnlySpan<byte> source, out ulong value, out int bytesRead)
    {
        value = 0;
        bytesRead = 0;
        for (int i = 0; i < MaxBytes && i < source.Length; i++)
        {
            byte b = source[i];
            value |= (ulong)(b & 0x7f) << (7 * i);
            if ((b & 0x80) == 0)
            {
                if (b == 0 && i > 0)
                {
                    value = 0;
                    return false;
                }

                bytesRead = i + 1;
                return true;
            }
        }

        value = 0;
        return false;
    }
}
