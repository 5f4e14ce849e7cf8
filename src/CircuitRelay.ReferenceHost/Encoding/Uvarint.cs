using System.Buffers;

namespace CircuitRelay.ReferenceHost.Encoding;

/// <summary>
/// Unsigned LEB128 varints as multiformats defines them (digest 0.1): minimal encoding, at most
/// 9 bytes (63 bits).
/// </summary>
/// <remarks>Stand-in until the core library's <c>CircuitRelay.Encoding.Varint</c> lands.</remarks>
internal static class Uvarint
{
    /// <summary>The longest encoding multiformats allows.</summary>
    public const int MaxLength = 9;

    /// <summary>Reads one varint from <paramref name="reader"/>.</summary>
    /// <returns><see langword="false"/> when the varint is incomplete; <paramref name="reader"/> is then unchanged.</returns>
    /// <exception cref="InvalidDataException">The varint is longer than 9 bytes or not minimally encoded.</exception>
    public static bool TryRead(ref SequenceReader<byte> reader, out ulong value)
    {
        value = 0;
        long start = reader.Consumed;
        for (int i = 0; i < MaxLength; i++)
        {
            if (!reader.TryRead(out byte b))
            {
                reader.Rewind(reader.Consumed - start);
                value = 0;
                return false;
            }

            value |= (ulong)(b & 0x7F) << (7 * i);
            if ((b & 0x80) == 0)
            {
                if (b == 0 && i > 0)
                {
                    throw new InvalidDataException("The varint is not minimally encoded.");
                }

                return true;
            }
        }

        throw new InvalidDataException($"The varint is longer than {MaxLength} bytes.");
    }

    /// <summary>The number of bytes <paramref name="value"/> takes encoded.</summary>
    public static int GetLength(ulong value)
    {
        int length = 1;
        while (value >= 0x80)
        {
            value >>= 7;
            length++;
        }

        return length;
    }

    /// <summary>Writes <paramref name="value"/> to <paramref name="destination"/>.</summary>
    /// <returns>The number of bytes written.</returns>
    /// <exception cref="ArgumentOutOfRangeException">The value needs more than 63 bits.</exception>
    /// <exception cref="ArgumentException"><paramref name="destination"/> is too small.</exception>
    public static int Write(Span<byte> destination, ulong value)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(value, (ulong)long.MaxValue);
        int length = GetLength(value);
        if (destination.Length < length)
        {
            throw new ArgumentException("The destination is too small for the varint.", nameof(destination));
        }

        for (int i = 0; i < length - 1; i++)
        {
            destination[i] = (byte)(value | 0x80);
            value >>= 7;
        }

        destination[length - 1] = (byte)value;
        return length;
    }
}
