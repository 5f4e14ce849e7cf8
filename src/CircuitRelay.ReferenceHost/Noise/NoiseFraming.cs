using System.Buffers;
using System.Buffers.Binary;
using System.IO.Pipelines;

namespace CircuitRelay.ReferenceHost.Noise;

/// <summary>
/// libp2p Noise wire framing (digest 5.4): every message, handshake or transport, is a 2-byte
/// big-endian length followed by that many bytes, at most 65535.
/// </summary>
/// <remarks>
/// Readers consume exactly the frames they parse and leave anything after them in the pipe, so the
/// bytes that follow the last handshake message are still there for the transport phase.
/// </remarks>
internal static class NoiseFraming
{
    /// <summary>The largest Noise message (the length prefix is a u16).</summary>
    public const int MaxMessageLength = ushort.MaxValue;

    /// <summary>The largest plaintext of one transport message: 65535 − 16 = 65519.</summary>
    public const int MaxPlaintextLength = MaxMessageLength - NoiseCipherState.TagSize;

    /// <summary>Size of the length prefix.</summary>
    public const int LengthPrefixSize = 2;

    /// <summary>
    /// Takes one complete frame off the front of <paramref name="buffer"/>, if it holds one.
    /// </summary>
    /// <param name="buffer">The received bytes; on success, advanced past the frame.</param>
    /// <param name="frame">The frame's body (without the prefix), on success.</param>
    /// <returns><see langword="true"/> when a complete frame was present.</returns>
    public static bool TryReadFrame(ref ReadOnlySequence<byte> buffer, out ReadOnlySequence<byte> frame)
    {
        if (buffer.Length < LengthPrefixSize)
        {
            frame = default;
            return false;
        }

        Span<byte> prefix = stackalloc byte[LengthPrefixSize];
        buffer.Slice(0, LengthPrefixSize).CopyTo(prefix);
        int length = BinaryPrimitives.ReadUInt16BigEndian(prefix);
        if (buffer.Length - LengthPrefixSize < length)
        {
            frame = default;
            return false;
        }

        frame = buffer.Slice(LengthPrefixSize, length);
        buffer = buffer.Slice(frame.End);
        return true;
    }

    /// <summary>Reads one frame, consuming exactly its prefix and body from <paramref name="reader"/>.</summary>
    /// <param name="reader">The connection's reader.</param>
    /// <param name="description">What the frame is, for error messages (e.g. "Noise handshake message 2").</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <returns>The frame's body.</returns>
    /// <exception cref="EndOfStreamException">The connection ended before a whole frame arrived.</exception>
    /// <exception cref="OperationCanceledException">The read was canceled.</exception>
    public static async ValueTask<byte[]> ReadFrameAsync(PipeReader reader, string description, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(reader);
        while (true)
        {
            ReadResult result = await reader.ReadAsync(cancellationToken).ConfigureAwait(false);
            ReadOnlySequence<byte> buffer = result.Buffer;
            if (TryReadFrame(ref buffer, out ReadOnlySequence<byte> frame))
            {
                byte[] body = frame.ToArray();

                // Consumed and examined up to the end of the frame only: what follows is not ours.
                reader.AdvanceTo(buffer.Start);
                return body;
            }

            long received = buffer.Length;
            reader.AdvanceTo(buffer.Start, buffer.End);
            if (result.IsCompleted)
            {
                throw new EndOfStreamException(received == 0
                    ? $"The connection closed while waiting for {description}."
                    : $"The connection closed in the middle of {description} ({received} bytes of an incomplete frame).");
            }

            if (result.IsCanceled)
            {
                throw new OperationCanceledException($"The read of {description} was canceled.");
            }
        }
    }

    /// <summary>Writes one frame (prefix and body) to <paramref name="writer"/> without flushing.</summary>
    /// <param name="writer">The connection's writer.</param>
    /// <param name="body">The frame's body, at most 65535 bytes.</param>
    public static void WriteFrame(PipeWriter writer, ReadOnlySpan<byte> body)
    {
        ArgumentNullException.ThrowIfNull(writer);
        if (body.Length > MaxMessageLength)
        {
            throw new ArgumentException($"A Noise message is at most {MaxMessageLength} bytes; got {body.Length}.", nameof(body));
        }

        Span<byte> prefix = writer.GetSpan(LengthPrefixSize);
        BinaryPrimitives.WriteUInt16BigEndian(prefix, (ushort)body.Length);
        writer.Advance(LengthPrefixSize);
        writer.Write(body);
    }

    /// <summary>Writes one frame and flushes it.</summary>
    /// <param name="writer">The connection's writer.</param>
    /// <param name="body">The frame's body, at most 65535 bytes.</param>
    /// <param name="cancellationToken">Cancels the flush.</param>
    /// <returns>A task that completes once the frame is flushed.</returns>
    /// <exception cref="IOException">The connection no longer accepts data.</exception>
    public static async ValueTask WriteFrameAsync(PipeWriter writer, ReadOnlyMemory<byte> body, CancellationToken cancellationToken = default)
    {
        WriteFrame(writer, body.Span);
        FlushResult result = await writer.FlushAsync(cancellationToken).ConfigureAwait(false);
        if (result.IsCanceled)
        {
            throw new OperationCanceledException("The write of a Noise message was canceled.");
        }

        if (result.IsCompleted)
        {
            throw new IOException("The connection stopped accepting data during the Noise handshake.");
        }
    }
}
