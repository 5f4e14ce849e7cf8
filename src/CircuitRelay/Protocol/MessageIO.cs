using System.Buffers;
using System.IO.Pipelines;
using CircuitRelay.Multiformats;
using CircuitRelay.Protocol.Pb;
using Google.Protobuf;

namespace CircuitRelay.Protocol;

/// <summary>
/// A hop or stop message could not be read: <see cref="Status"/> is what the receiver answers
/// (<see cref="RelayStatus.MalformedMessage"/> for undecodable or oversized frames).
/// </summary>
internal sealed class ProtocolViolationException(RelayStatus status, string message, Exception? inner = null)
    : IOException(message, inner)
{
    public RelayStatus Status { get; } = status;
}

/// <summary>
/// Reads and writes uvarint-length-prefixed hop/stop messages. Reads consume exactly one frame:
/// what follows a final STATUS belongs to the circuit and stays in the pipe.
/// </summary>
internal static class MessageIO
{
    public static ValueTask<HopMessage> ReadHopAsync(PipeReader reader, CancellationToken cancellationToken)
        => ReadAsync(reader, HopMessage.Parser, cancellationToken);

    public static ValueTask<StopMessage> ReadStopAsync(PipeReader reader, CancellationToken cancellationToken)
        => ReadAsync(reader, StopMessage.Parser, cancellationToken);

    public static async ValueTask WriteAsync(PipeWriter writer, IMessage message, CancellationToken cancellationToken)
    {
        int size = message.CalculateSize();
        int total = Varint.GetByteCount((ulong)size) + size;
        Span<byte> span = writer.GetSpan(total);
        int prefix = Varint.Write(span, (ulong)size);
        message.WriteTo(span.Slice(prefix, size));
        writer.Advance(total);
        FlushResult result = await writer.FlushAsync(cancellationToken).ConfigureAwait(false);
        if (result.IsCompleted)
        {
            throw new IOException("The remote closed the stream before the message was written.");
        }
    }

    private static async ValueTask<T> ReadAsync<T>(PipeReader reader, MessageParser<T> parser, CancellationToken cancellationToken)
        where T : IMessage<T>
    {
        byte[]? frame;
        try
        {
            frame = await LengthPrefixed.ReadAsync(reader, RelayProtocol.MaxMessageSize, cancellationToken).ConfigureAwait(false);
        }
        catch (InvalidDataException ex)
        {
            throw new ProtocolViolationException(RelayStatus.MalformedMessage, ex.Message, ex);
        }

        if (frame is null)
        {
            throw new EndOfStreamException("The stream ended before a message arrived.");
        }

        try
        {
            return parser.ParseFrom(frame);
        }
        catch (InvalidProtocolBufferException ex)
        {
            throw new ProtocolViolationException(RelayStatus.MalformedMessage, "The message is not a valid protobuf: " + ex.Message, ex);
        }
    }

    public static Limit? ToWire(RelayLimit? limit)
    {
        if (limit is null || (!limit.HasData && !limit.HasDuration))
        {
            return null;
        }

        var wire = new Limit();
        if (limit.HasDuration)
        {
            wire.Duration = (uint)Math.Min(uint.MaxValue, Math.Ceiling(limit.Duration.TotalSeconds));
        }

        if (limit.HasData)
        {
            wire.Data = limit.DataBytes;
        }

        return wire;
    }

    public static RelayLimit? FromWire(Limit? limit)
    {
        if (limit is null)
        {
            return null;
        }

        var duration = limit.HasDuration ? TimeSpan.FromSeconds(limit.Duration) : TimeSpan.Zero;
        ulong data = limit.HasData ? limit.Data : 0;
        return duration == TimeSpan.Zero && data == 0 ? null : new RelayLimit(duration, data);
    }

    public static Status ToWire(RelayStatus status) => (Status)(int)status;

    /// <summary>Maps a received status; unknown values become <see langword="null"/>.</summary>
    public static RelayStatus? FromWire(Status status) => status switch
    {
        Status.Ok => RelayStatus.Ok,
        Status.ReservationRefused => RelayStatus.ReservationRefused,
        Status.ResourceLimitExceeded => RelayStatus.ResourceLimitExceeded,
        Status.PermissionDenied => RelayStatus.PermissionDenied,
        Status.ConnectionFailed => RelayStatus.ConnectionFailed,
        Status.NoReservation => RelayStatus.NoReservation,
        Status.MalformedMessage => RelayStatus.MalformedMessage,
        Status.UnexpectedMessage => RelayStatus.UnexpectedMessage,
        _ => null,
    };

    public static HopMessage HopStatus(RelayStatus status) => new() { Type = HopMessage.Types.Type.Status, Status = ToWire(status) };

    public static StopMessage StopStatus(RelayStatus status) => new() { Type = StopMessage.Types.Type.Status, Status = ToWire(status) };

    /// <summary>Whether a decoded enum value is one the schema defines (protobuf keeps unknown values as numbers).</summary>
    public static bool IsDefined(HopMessage.Types.Type type) => type is HopMessage.Types.Type.Reserve or HopMessage.Types.Type.Connect or HopMessage.Types.Type.Status;

    public static bool IsDefined(StopMessage.Types.Type type) => type is StopMessage.Types.Type.Connect or StopMessage.Types.Type.Status;
}
