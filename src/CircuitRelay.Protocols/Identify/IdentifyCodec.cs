using System.Buffers;
using System.IO.Pipelines;
using Google.Protobuf;
using IdentifyMessage = CircuitRelay.Protocols.Identify.Pb.Identify;

namespace CircuitRelay.Protocols.Identify;

/// <summary>
/// Identify framing (digest 8.1): uvarint-length-prefixed protobuf messages, read until end of stream
/// and merged with protobuf merge semantics, as go does.
/// </summary>
/// <remarks>
/// The framing is the same as <c>src/Shared/Multiformats/LengthPrefixed.cs</c> (minimal varint prefix, the cap
/// checked before the body, never a byte past the frame), written here rather than linked: see the csproj.
/// </remarks>
internal static class IdentifyCodec
{
    /// <summary>The largest message this node sends (go trims to about 4 KiB for rust, which accepts 4096).</summary>
    public const int MaxSendSize = 4096;

    /// <summary>The largest single message accepted (go's limit).</summary>
    public const int MaxReceiveSize = 8 * 1024;

    /// <summary>The most messages read from one stream (go's limit); anything after them is ignored.</summary>
    public const int MaxMessages = 10;

    /// <summary>The longest length prefix accepted (a 63-bit varint, as the shared framing).</summary>
    private const int MaxPrefixLength = 9;

    /// <summary>
    /// Reads up to <see cref="MaxMessages"/> frames until end of stream and merges them field by field
    /// (optional fields: the last one wins; repeated fields: concatenated).
    /// </summary>
    /// <param name="reader">The stream's input.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <returns>The merged message.</returns>
    /// <exception cref="InvalidDataException">A frame is longer than <see cref="MaxReceiveSize"/>, or not a valid Identify protobuf.</exception>
    /// <exception cref="EndOfStreamException">The stream ended before a complete frame, or inside one.</exception>
    public static async Task<IdentifyMessage> ReadMergedAsync(PipeReader reader, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(reader);
        var merged = new IdentifyMessage();
        int count = 0;
        while (count < MaxMessages)
        {
            byte[]? body = await ReadFrameAsync(reader, MaxReceiveSize, cancellationToken).ConfigureAwait(false);
            if (body is null)
            {
                break;
            }

            count++;
            try
            {
                merged.MergeFrom(body);
            }
            catch (InvalidProtocolBufferException ex)
            {
                throw new InvalidDataException($"Identify message {count} is not a valid protobuf: {ex.Message}", ex);
            }
        }

        if (count == 0)
        {
            throw new EndOfStreamException("The stream ended before any Identify message.");
        }

        return merged;
    }

    /// <summary>Writes <paramref name="message"/> as one frame and flushes it.</summary>
    /// <param name="writer">The stream's output.</param>
    /// <param name="message">The message.</param>
    /// <param name="cancellationToken">Cancels the flush.</param>
    /// <returns>A task that completes once the frame is flushed.</returns>
    public static ValueTask WriteAsync(PipeWriter writer, IdentifyMessage message, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(writer);
        ArgumentNullException.ThrowIfNull(message);
        int size = message.CalculateSize();
        Span<byte> prefix = stackalloc byte[MaxPrefixLength];
        int prefixLength = EncodeVarint((ulong)size, prefix);
        Span<byte> frame = writer.GetSpan(prefixLength + size);
        prefix[..prefixLength].CopyTo(frame);
        message.WriteTo(frame.Slice(prefixLength, size));
        writer.Advance(prefixLength + size);
        return FlushAsync(writer, cancellationToken);

        static async ValueTask FlushAsync(PipeWriter writer, CancellationToken cancellationToken) =>
            await writer.FlushAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Reads exactly one frame: a minimal uvarint length, checked against <paramref name="maxLength"/> before the
    /// body is read, then exactly the body.
    /// </summary>
    /// <returns>The body, or <see langword="null"/> when the stream ended cleanly before the first byte of a frame.</returns>
    /// <exception cref="InvalidDataException">The prefix is not a minimal varint, or the body is longer than <paramref name="maxLength"/>.</exception>
    /// <exception cref="EndOfStreamException">The stream ended inside the frame.</exception>
    internal static async ValueTask<byte[]?> ReadFrameAsync(PipeReader reader, int maxLength, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(reader);
        int length;
        while (true)
        {
            ReadResult result = await reader.ReadAsync(cancellationToken).ConfigureAwait(false);
            ReadOnlySequence<byte> buffer = result.Buffer;
            if (result.IsCanceled)
            {
                reader.AdvanceTo(buffer.Start);
                throw new OperationCanceledException("The pending read was cancelled.");
            }

            int prefixLength;
            try
            {
                prefixLength = TryReadPrefix(buffer, maxLength, out length);
            }
            catch
            {
                reader.AdvanceTo(buffer.Start);
                throw;
            }

            if (prefixLength > 0)
            {
                reader.AdvanceTo(buffer.GetPosition(prefixLength));
                break;
            }

            if (result.IsCompleted)
            {
                reader.AdvanceTo(buffer.End);
                return buffer.IsEmpty
                    ? null
                    : throw new EndOfStreamException($"The stream ended inside a length prefix ({buffer.Length} bytes of it were received).");
            }

            reader.AdvanceTo(buffer.Start, buffer.End);
        }

        if (length == 0)
        {
            return [];
        }

        ReadResult body = await reader.ReadAtLeastAsync(length, cancellationToken).ConfigureAwait(false);
        if (body.IsCanceled)
        {
            reader.AdvanceTo(body.Buffer.Start);
            throw new OperationCanceledException("The pending read was cancelled.");
        }

        if (body.Buffer.Length < length)
        {
            reader.AdvanceTo(body.Buffer.End);
            throw new EndOfStreamException($"The stream ended inside a length-prefixed message ({body.Buffer.Length} of its {length} bytes were received).");
        }

        byte[] bytes = body.Buffer.Slice(0, length).ToArray();
        reader.AdvanceTo(body.Buffer.GetPosition(length));
        return bytes;
    }

    /// <summary>Decodes the prefix at the start of <paramref name="buffer"/>; its length in bytes, or 0 when incomplete.</summary>
    /// <exception cref="InvalidDataException">The prefix is not minimal, too long, or announces more than <paramref name="maxLength"/> bytes.</exception>
    private static int TryReadPrefix(ReadOnlySequence<byte> buffer, int maxLength, out int length)
    {
        length = 0;
        ulong value = 0;
        int count = 0;
        foreach (ReadOnlyMemory<byte> segment in buffer)
        {
            foreach (byte b in segment.Span)
            {
                value |= (ulong)(b & 0x7f) << (7 * count);
                count++;
                if ((b & 0x80) == 0)
                {
                    if (b == 0 && count > 1)
                    {
                        throw new InvalidDataException("The length prefix is invalid: the varint is not minimally encoded.");
                    }

                    if (value > (ulong)maxLength)
                    {
                        throw new InvalidDataException($"The message of {value} bytes exceeds the maximum of {maxLength} bytes.");
                    }

                    length = (int)value;
                    return count;
                }

                if (count == MaxPrefixLength)
                {
                    throw new InvalidDataException($"The length prefix is invalid: the varint is longer than {MaxPrefixLength} bytes.");
                }
            }
        }

        return 0;
    }

    private static int EncodeVarint(ulong value, Span<byte> destination)
    {
        int count = 0;
        while (value >= 0x80)
        {
            destination[count++] = (byte)(value | 0x80);
            value >>= 7;
        }

        destination[count++] = (byte)value;
        return count;
    }

    /// <summary>
    /// Removes listen addresses, then protocols, from the end until the message is at most
    /// <paramref name="maxSize"/> bytes.
    /// </summary>
    /// <param name="message">The message to trim in place.</param>
    /// <param name="maxSize">The size limit in bytes.</param>
    /// <returns>How many addresses and protocols were removed.</returns>
    public static (int Addresses, int Protocols) Trim(IdentifyMessage message, int maxSize)
    {
        ArgumentNullException.ThrowIfNull(message);
        int addresses = 0;
        int protocols = 0;
        while (message.CalculateSize() > maxSize && message.ListenAddrs.Count > 0)
        {
            message.ListenAddrs.RemoveAt(message.ListenAddrs.Count - 1);
            addresses++;
        }

        while (message.CalculateSize() > maxSize && message.Protocols.Count > 0)
        {
            message.Protocols.RemoveAt(message.Protocols.Count - 1);
            protocols++;
        }

        return (addresses, protocols);
    }
}
