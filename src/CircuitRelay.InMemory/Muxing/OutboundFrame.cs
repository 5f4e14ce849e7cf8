using System.Buffers;

namespace CircuitRelay.InMemory.Muxing;

/// <summary>
/// A frame waiting in a connection's send queue. The payload, when present, is rented from
/// <see cref="ArrayPool{T}.Shared"/> and returned by <see cref="Release"/> once written or dropped.
/// </summary>
internal readonly struct OutboundFrame(uint streamId, FrameType type, byte[]? payload, int length)
{
    public uint StreamId { get; } = streamId;

    public FrameType Type { get; } = type;

    public ReadOnlySpan<byte> Payload => payload is null ? default : payload.AsSpan(0, Length);

    public int Length { get; } = length;

    /// <summary>Returns the pooled payload buffer.</summary>
    public void Release()
    {
        if (payload is not null)
        {
            ArrayPool<byte>.Shared.Return(payload);
        }
    }
}
