using System.Buffers;
using System.Buffers.Binary;

namespace CircuitRelay.ReferenceHost.Yamux;

/// <summary>
/// The 12-byte Yamux frame header (digest 6.1): version, type, flags, stream id and length, all big-endian.
/// </summary>
/// <param name="Type">The frame type.</param>
/// <param name="Flags">The flags.</param>
/// <param name="StreamId">The stream id; 0 for the session (ping, go away).</param>
/// <param name="Length">The payload length (data), window delta (window update), opaque value (ping)
/// or error code (go away, or window update with RST).</param>
internal readonly record struct YamuxHeader(YamuxFrameType Type, YamuxFlags Flags, uint StreamId, uint Length)
{
    /// <summary>The header size in bytes.</summary>
    public const int Size = 12;

    /// <summary>The only protocol version.</summary>
    public const byte ProtocolVersion = 0;

    /// <summary>Whether the frame has all of <paramref name="flags"/>.</summary>
    public bool Has(YamuxFlags flags) => (Flags & flags) == flags;

    /// <summary>Writes the header into the first <see cref="Size"/> bytes of <paramref name="destination"/>.</summary>
    public void Write(Span<byte> destination)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(destination.Length, Size, nameof(destination));
        destination[0] = ProtocolVersion;
        destination[1] = (byte)Type;
        BinaryPrimitives.WriteUInt16BigEndian(destination[2..], (ushort)Flags);
        BinaryPrimitives.WriteUInt32BigEndian(destination[4..], StreamId);
        BinaryPrimitives.WriteUInt32BigEndian(destination[8..], Length);
    }

    /// <summary>Reads a header from the start of <paramref name="buffer"/>.</summary>
    /// <returns><see langword="false"/> when fewer than <see cref="Size"/> bytes are available.</returns>
    /// <exception cref="InvalidDataException">The version is not 0 or the type is unknown.</exception>
    public static bool TryRead(ReadOnlySequence<byte> buffer, out YamuxHeader header)
    {
        header = default;
        if (buffer.Length < Size)
        {
            return false;
        }

        Span<byte> bytes = stackalloc byte[Size];
        buffer.Slice(0, Size).CopyTo(bytes);
        header = Parse(bytes);
        return true;
    }

    /// <summary>Parses a header from exactly <see cref="Size"/> bytes.</summary>
    /// <exception cref="InvalidDataException">The version is not 0 or the type is unknown.</exception>
    public static YamuxHeader Parse(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length != Size)
        {
            throw new InvalidDataException($"A Yamux header is {Size} bytes, not {bytes.Length}.");
        }

        if (bytes[0] != ProtocolVersion)
        {
            throw new InvalidDataException($"Unsupported Yamux version {bytes[0]}.");
        }

        if (bytes[1] > (byte)YamuxFrameType.GoAway)
        {
            throw new InvalidDataException($"Unknown Yamux frame type {bytes[1]}.");
        }

        return new YamuxHeader(
            (YamuxFrameType)bytes[1],
            (YamuxFlags)BinaryPrimitives.ReadUInt16BigEndian(bytes[2..]),
            BinaryPrimitives.ReadUInt32BigEndian(bytes[4..]),
            BinaryPrimitives.ReadUInt32BigEndian(bytes[8..]));
    }

    /// <inheritdoc />
    public override string ToString() => $"{Type} {Flags} stream={StreamId} length={Length}";
}
