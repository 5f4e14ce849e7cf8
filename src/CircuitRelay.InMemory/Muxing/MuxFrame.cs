using System.Buffers;
using System.Buffers.Binary;

namespace CircuitRelay.InMemory.Muxing;

/// <summary>The frame types of the in-memory muxer.</summary>
internal enum FrameType : byte
{
    /// <summary>Connection handshake (stream id 0): the payload is the sender's binary peer id.</summary>
    Hello = 0,

    /// <summary>Opens a stream: the payload is the UTF-8 protocol id.</summary>
    Open = 1,

    /// <summary>The acceptor accepted the stream and its protocol.</summary>
    Ack = 2,

    /// <summary>Stream data (1 to <see cref="MuxFrame.MaxPayload"/> bytes).</summary>
    Data = 3,

    /// <summary>The sender will send no more data on the stream (half-close).</summary>
    Fin = 4,

    /// <summary>Resets the stream; the optional one-byte payload is a <see cref="ResetReason"/>.</summary>
    Reset = 5,

    /// <summary>Grants the receiver more send credit: the payload is a 4-byte big-endian increment.</summary>
    Window = 6,
}

/// <summary>Why a stream was reset (the payload of a <see cref="FrameType.Reset"/> frame).</summary>
internal enum ResetReason : byte
{
    /// <summary>An ordinary reset (Abort).</summary>
    Reset = 0,

    /// <summary>The acceptor has no handler for the protocol.</summary>
    ProtocolNotSupported = 1,

    /// <summary>The acceptor's handler does not accept streams on limited connections.</summary>
    LimitedConnection = 2,
}

/// <summary>
/// The wire format of the in-memory muxer: a 7-byte header <c>[u32 stream id][u8 type][u16 length]</c>
/// (big-endian) followed by <c>length</c> payload bytes.
/// </summary>
internal static class MuxFrame
{
    /// <summary>The header size in bytes.</summary>
    public const int HeaderSize = 7;

    /// <summary>The largest payload of one frame (and so of one data frame).</summary>
    public const int MaxPayload = ushort.MaxValue;

    /// <summary>The longest protocol id accepted in an OPEN frame, in UTF-8 bytes.</summary>
    public const int MaxProtocolLength = 1024;

    /// <summary>Writes one frame header into <paramref name="destination"/>.</summary>
    public static void WriteHeader(Span<byte> destination, uint streamId, FrameType type, int length)
    {
        if ((uint)length > MaxPayload)
        {
            throw new ArgumentOutOfRangeException(nameof(length), length, "A frame payload is at most 65535 bytes.");
        }

        BinaryPrimitives.WriteUInt32BigEndian(destination, streamId);
        destination[4] = (byte)type;
        BinaryPrimitives.WriteUInt16BigEndian(destination[5..], (ushort)length);
    }

    /// <summary>
    /// Takes one complete frame off the front of <paramref name="buffer"/>. Returns <see langword="false"/>
    /// (and leaves <paramref name="buffer"/> alone) when the buffer does not hold a whole frame yet.
    /// </summary>
    public static bool TryRead(ref ReadOnlySequence<byte> buffer, out uint streamId, out FrameType type, out ReadOnlySequence<byte> payload)
    {
        streamId = 0;
        type = default;
        payload = default;
        if (buffer.Length < HeaderSize)
        {
            return false;
        }

        Span<byte> header = stackalloc byte[HeaderSize];
        buffer.Slice(0, HeaderSize).CopyTo(header);
        int length = BinaryPrimitives.ReadUInt16BigEndian(header[5..]);
        if (buffer.Length < HeaderSize + length)
        {
            return false;
        }

        streamId = BinaryPrimitives.ReadUInt32BigEndian(header);
        type = (FrameType)header[4];
        payload = buffer.Slice(HeaderSize, length);
        buffer = buffer.Slice(HeaderSize + length);
        return true;
    }
}
