using System.Buffers;
using System.IO.Pipelines;

namespace CircuitRelay.Multiformats;

/// <summary>
/// Varint-length-prefixed ("delimited") messages: <c>uvarint(len(body)) || body</c>.
/// The readers never consume a byte past the end of the frame, because on relay streams the bytes
/// after the final message belong to the relayed connection.
/// </summary>
internal static class LengthPrefixed
{
    /// <summary>Writes one frame to <paramref name="writer"/> in a single buffer and flushes it.</summary>
    /// <param name="writer">The pipe to write to.</param>
    /// <param name="body">The message body.</param>
    /// <param name="cancellationToken">Cancels the flush.</param>
    /// <returns>A task that completes once the frame is flushed.</returns>
    public static ValueTask WriteAsync(PipeWriter writer, ReadOnlyMemory<byte> body, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(writer);
        Write(writer, body.Span);
        ValueTask<FlushResult> flush = writer.FlushAsync(cancellationToken);
        return flush.IsCompletedSuccessfully ? ValueTask.CompletedTask : AwaitFlushAsync(flush);

        static async ValueTask AwaitFlushAsync(ValueTask<FlushResult> flush) => await flush.ConfigureAwait(false);
    }

    /// <summary>Writes one frame to <paramref name="stream"/> with a single write call, then flushes it.</summary>
    /// <param name="stream">The stream to write to.</param>
    /// <param name="body">The message body.</param>
    /// <param name="cancellationToken">Cancels the write and the flush.</param>
    /// <returns>A task that completes once the frame is flushed.</returns>
    public static async ValueTask WriteAsync(Stream stream, ReadOnlyMemory<byte> body, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(stream);
        int length = Varint.GetByteCount((ulong)body.Length) + body.Length;
        byte[] buffer = ArrayPool<byte>.Shared.Rent(length);
        try
        {
            int prefix = Varint.Write(buffer, (ulong)body.Length);
            body.Span.CopyTo(buffer.AsSpan(prefix));
            await stream.WriteAsync(buffer.AsMemory(0, length), cancellationToken).ConfigureAwait(false);
            await stream.FlushAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>Writes one frame to <paramref name="writer"/> without flushing.</summary>
    /// <param name="writer">The buffer writer.</param>
    /// <param name="body">The message body.</param>
    public static void Write(IBufferWriter<byte> writer, ReadOnlySpan<byte> body)
    {
        ArgumentNullException.ThrowIfNull(writer);
        int length = Varint.GetByteCount((ulong)body.Length) + body.Length;
        Span<byte> span = writer.GetSpan(length);
        int prefix = Varint.Write(span, (ulong)body.Length);
        body.CopyTo(span[prefix..]);
        writer.Advance(length);
    }

    /// <summary>
    /// Reads exactly one frame from <paramref name="reader"/>. Bytes after the frame stay in the pipe.
    /// The length is checked against <paramref name="maxLength"/> as soon as the prefix is complete,
    /// before any of the body is awaited.
    /// </summary>
    /// <remarks>
    /// Nothing is consumed until the prefix is complete and valid, so a size or prefix error leaves the pipe
    /// untouched. When the body has not fully arrived yet, the bytes received so far are consumed into the
    /// result as they come (a frame larger than the pipe's pause threshold cannot deadlock); cancelling such a
    /// read leaves the pipe in the middle of the frame.
    /// </remarks>
    /// <param name="reader">The pipe to read from.</param>
    /// <param name="maxLength">The largest accepted body length, in bytes.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <returns>The body, or <see langword="null"/> when the pipe ended cleanly before the first byte of a frame.</returns>
    /// <exception cref="InvalidDataException">The length prefix is not a valid varint, or the body is longer than <paramref name="maxLength"/>.</exception>
    /// <exception cref="EndOfStreamException">The pipe ended inside the frame.</exception>
    /// <exception cref="OperationCanceledException">The read was cancelled.</exception>
    public static async ValueTask<byte[]?> ReadAsync(PipeReader reader, int maxLength, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(reader);
        ArgumentOutOfRangeException.ThrowIfNegative(maxLength);

        // Phase 1: the prefix (and, usually, the whole frame). Nothing is consumed until the prefix is valid.
        byte[] body;
        int received;
        while (true)
        {
            ReadResult result = await reader.ReadAsync(cancellationToken).ConfigureAwait(false);
            ReadOnlySequence<byte> buffer = result.Buffer;
            ulong length;
            SequenceReader<byte> sequenceReader;
            try
            {
                ThrowIfCanceled(result);
                sequenceReader = new SequenceReader<byte>(buffer);
                if (!TryReadPrefix(ref sequenceReader, out length))
                {
                    if (result.IsCompleted && !buffer.IsEmpty)
                    {
                        throw new EndOfStreamException($"The stream ended inside a length prefix ({buffer.Length} bytes of it were received).");
                    }

                    reader.AdvanceTo(buffer.Start, buffer.End);
                    if (result.IsCompleted)
                    {
                        return null; // clean end of stream before the first byte of a frame
                    }

                    continue;
                }

                CheckLength(length, maxLength);
            }
            catch
            {
                // Leave the pipe usable (nothing consumed) for whoever handles the error.
                reader.AdvanceTo(buffer.Start);
                throw;
            }

            body = new byte[(int)length];
            ReadOnlySequence<byte> available = sequenceReader.UnreadSequence;
            if (available.Length >= body.Length)
            {
                // The whole frame is here. Consume (and examine) exactly up to its end, so the bytes after
                // it are returned at once by the next read.
                available.Slice(0, body.Length).CopyTo(body);
                reader.AdvanceTo(available.GetPosition(body.Length));
                return body;
            }

            if (result.IsCompleted)
            {
                reader.AdvanceTo(buffer.Start);
                throw TruncatedBody(available.Length, body.Length);
            }

            // Everything buffered belongs to this frame: take it and wait for the rest.
            available.CopyTo(body);
            received = (int)available.Length;
            reader.AdvanceTo(buffer.End);
            break;
        }

        // Phase 2: the rest of the body, consumed as it arrives and never past the frame's end.
        while (received < body.Length)
        {
            ReadResult result = await reader.ReadAsync(cancellationToken).ConfigureAwait(false);
            ReadOnlySequence<byte> buffer = result.Buffer;
            if (result.IsCanceled)
            {
                reader.AdvanceTo(buffer.Start);
                ThrowIfCanceled(result);
            }

            int take = (int)Math.Min(buffer.Length, body.Length - received);
            buffer.Slice(0, take).CopyTo(body.AsSpan(received));
            received += take;
            reader.AdvanceTo(buffer.GetPosition(take));
            if (received < body.Length && result.IsCompleted)
            {
                throw TruncatedBody(received, body.Length);
            }
        }

        return body;
    }

    /// <summary>
    /// Reads exactly one frame from <paramref name="stream"/>: the prefix one byte at a time, then exactly
    /// the body. Never reads past the frame.
    /// </summary>
    /// <param name="stream">The stream to read from.</param>
    /// <param name="maxLength">The largest accepted body length, in bytes.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <returns>The body, or <see langword="null"/> when the stream ended cleanly before the first byte of a frame.</returns>
    /// <exception cref="InvalidDataException">The length prefix is not a valid varint, or the body is longer than <paramref name="maxLength"/>.</exception>
    /// <exception cref="EndOfStreamException">The stream ended inside the frame.</exception>
    public static async ValueTask<byte[]?> ReadAsync(Stream stream, int maxLength, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentOutOfRangeException.ThrowIfNegative(maxLength);
        byte[] prefix = new byte[Varint.MaxLength];
        int count = 0;
        ulong length;
        while (true)
        {
            int read = await stream.ReadAsync(prefix.AsMemory(count, 1), cancellationToken).ConfigureAwait(false);
            if (read == 0)
            {
                if (count == 0)
                {
                    return null;
                }

                throw new EndOfStreamException($"The stream ended inside a length prefix ({count} bytes of it were received).");
            }

            count++;
            VarintStatus status = Varint.Decode(prefix.AsSpan(0, count), out length, out _);
            if (status == VarintStatus.Ok)
            {
                break;
            }

            if (status != VarintStatus.Incomplete)
            {
                throw InvalidPrefix(Varint.CreateException(status));
            }
        }

        CheckLength(length, maxLength);
        byte[] body = new byte[(int)length];
        await stream.ReadExactlyAsync(body, cancellationToken).ConfigureAwait(false);
        return body;
    }

    private static bool TryReadPrefix(ref SequenceReader<byte> sequenceReader, out ulong length)
    {
        try
        {
            return Varint.TryRead(ref sequenceReader, out length);
        }
        catch (FormatException ex)
        {
            throw InvalidPrefix(ex);
        }
    }

    private static void ThrowIfCanceled(ReadResult result)
    {
        if (result.IsCanceled)
        {
            throw new OperationCanceledException("The pending read was cancelled.");
        }
    }

    private static EndOfStreamException TruncatedBody(long received, int length) =>
        new($"The stream ended inside a length-prefixed message ({received} of its {length} bytes were received).");

    private static void CheckLength(ulong length, int maxLength)
    {
        if (length > (ulong)maxLength)
        {
            throw new InvalidDataException($"The message of {length} bytes exceeds the maximum of {maxLength} bytes.");
        }
    }

    private static InvalidDataException InvalidPrefix(FormatException inner) =>
        new($"The length prefix is invalid: {inner.Message}", inner);
}
