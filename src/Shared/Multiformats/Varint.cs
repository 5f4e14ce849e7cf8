using System.Buffers;

namespace CircuitRelay.Multiformats;

/// <summary>
/// Unsigned LEB128 varints as used throughout multiformats and libp2p (multiformats/unsigned-varint):
/// 7 bits per byte, least-significant group first, the high bit set on every byte but the last.
/// Encodings must be minimal and at most <see cref="MaxLength"/> bytes long (63 bits).
/// </summary>
internal static class Varint
{
    /// <summary>The longest accepted encoding, in bytes (9 bytes carry 63 bits).</summary>
    public const int MaxLength = 9;

    /// <summary>The largest encodable value, 2^63 - 1.</summary>
    internal const ulong MaxValue = long.MaxValue;

    /// <summary>Returns how many bytes <paramref name="value"/> takes when encoded.</summary>
    /// <param name="value">The value to measure; values of 2^63 and above are measured although they cannot be written.</param>
    /// <returns>The length of the minimal encoding, between 1 and 10.</returns>
    public static int GetByteCount(ulong value)
    {
        // Number of significant bits, rounded up to a multiple of 7 (at least one byte for zero).
        int bits = 64 - System.Numerics.BitOperations.LeadingZeroCount(value | 1);
        return (bits + 6) / 7;
    }

    /// <summary>Writes the minimal encoding of <paramref name="value"/> to <paramref name="destination"/>.</summary>
    /// <param name="destination">Where to write; must hold at least <see cref="GetByteCount"/> bytes.</param>
    /// <param name="value">The value, below 2^63.</param>
    /// <returns>The number of bytes written.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="value"/> is 2^63 or more.</exception>
    /// <exception cref="ArgumentException"><paramref name="destination"/> is too small.</exception>
    public static int Write(Span<byte> destination, ulong value)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(value, MaxValue);
        int count = GetByteCount(value);
        if (destination.Length < count)
        {
            throw new ArgumentException($"The destination holds {destination.Length} bytes but the varint needs {count}.", nameof(destination));
        }

        int i = 0;
        while (value >= 0x80)
        {
            destination[i++] = (byte)(value | 0x80);
            value >>= 7;
        }

        destination[i++] = (byte)value;
        return i;
    }

    /// <summary>Returns the minimal encoding of <paramref name="value"/> as a new array.</summary>
    /// <param name="value">The value, below 2^63.</param>
    /// <returns>The encoded bytes.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="value"/> is 2^63 or more.</exception>
    public static byte[] Encode(ulong value)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(value, MaxValue);
        var bytes = new byte[GetByteCount(value)];
        Write(bytes, value);
        return bytes;
    }

    /// <summary>Reads a complete varint from the start of <paramref name="source"/>.</summary>
    /// <param name="source">The bytes; anything after the varint is ignored.</param>
    /// <param name="bytesRead">The length of the varint.</param>
    /// <returns>The decoded value.</returns>
    /// <exception cref="FormatException">The varint is truncated, not minimal or longer than <see cref="MaxLength"/> bytes.</exception>
    public static ulong Read(ReadOnlySpan<byte> source, out int bytesRead)
    {
        var status = Decode(source, out ulong value, out bytesRead);
        if (status != VarintStatus.Ok)
        {
            throw CreateException(status);
        }

        return value;
    }

    /// <summary>Reads a varint from the start of <paramref name="source"/> if it is complete.</summary>
    /// <param name="source">The bytes available so far.</param>
    /// <param name="value">The decoded value, or 0.</param>
    /// <param name="bytesRead">The length of the varint, or 0.</param>
    /// <returns><see langword="true"/> when a varint was read; <see langword="false"/> when more bytes are needed.</returns>
    /// <exception cref="FormatException">The bytes can never form a valid varint (not minimal, or longer than <see cref="MaxLength"/> bytes).</exception>
    public static bool TryRead(ReadOnlySpan<byte> source, out ulong value, out int bytesRead)
    {
        var status = Decode(source, out value, out bytesRead);
        return status switch
        {
            VarintStatus.Ok => true,
            VarintStatus.Incomplete => false,
            _ => throw CreateException(status),
        };
    }

    /// <summary>Reads a varint from <paramref name="reader"/> if it is complete, advancing past it.</summary>
    /// <param name="reader">The reader; it is advanced only when a varint is returned.</param>
    /// <param name="value">The decoded value, or 0.</param>
    /// <returns><see langword="true"/> when a varint was read; <see langword="false"/> when more bytes are needed (the reader is not advanced).</returns>
    /// <exception cref="FormatException">The bytes can never form a valid varint (not minimal, or longer than <see cref="MaxLength"/> bytes).</exception>
    public static bool TryRead(ref SequenceReader<byte> reader, out ulong value)
    {
        ReadOnlySpan<byte> unread = reader.UnreadSpan;
        int bytesRead;
        if (unread.Length >= MaxLength || unread.Length == reader.Remaining)
        {
            // Fast path: everything that matters is in the current segment.
            if (!TryRead(unread, out value, out bytesRead))
            {
                return false;
            }
        }
        else
        {
            Span<byte> scratch = stackalloc byte[MaxLength];
            int available = (int)Math.Min(MaxLength, reader.Remaining);
            scratch = scratch[..available];
            reader.TryCopyTo(scratch);
            if (!TryRead(scratch, out value, out bytesRead))
            {
                return false;
            }
        }

        reader.Advance(bytesRead);
        return true;
    }

    /// <summary>Decodes without throwing.</summary>
    internal static VarintStatus Decode(ReadOnlySpan<byte> source, out ulong value, out int bytesRead)
    {
        ulong result = 0;
        int limit = Math.Min(source.Length, MaxLength);
        for (int i = 0; i < limit; i++)
        {
            byte b = source[i];
            result |= (ulong)(b & 0x7F) << (7 * i);
            if ((b & 0x80) == 0)
            {
                if (b == 0 && i > 0)
                {
                    value = 0;
                    bytesRead = 0;
                    return VarintStatus.NonMinimal;
                }

                value = result;
                bytesRead = i + 1;
                return VarintStatus.Ok;
            }
        }

        value = 0;
        bytesRead = 0;
        return source.Length >= MaxLength ? VarintStatus.TooLong : VarintStatus.Incomplete;
    }

    /// <summary>Reads a complete varint from <paramref name="source"/> at <paramref name="offset"/>, advancing the offset; returns false on any error.</summary>
    internal static bool TryReadAt(ReadOnlySpan<byte> source, ref int offset, out ulong value)
    {
        if (Decode(source[offset..], out value, out int read) != VarintStatus.Ok)
        {
            return false;
        }

        offset += read;
        return true;
    }

    internal static FormatException CreateException(VarintStatus status) => status switch
    {
        VarintStatus.Incomplete => new FormatException("The varint is truncated."),
        VarintStatus.NonMinimal => new FormatException("The varint is not minimally encoded."),
        VarintStatus.TooLong => new FormatException($"The varint is longer than {MaxLength} bytes."),
        _ => new FormatException("The varint is invalid."),
    };
}

/// <summary>Outcome of decoding a varint.</summary>
internal enum VarintStatus
{
    /// <summary>A complete, valid varint.</summary>
    Ok,

    /// <summary>More bytes are needed.</summary>
    Incomplete,

    /// <summary>The last byte is zero although more than one byte was used.</summary>
    NonMinimal,

    /// <summary>More than <see cref="Varint.MaxLength"/> bytes.</summary>
    TooLong,
}
