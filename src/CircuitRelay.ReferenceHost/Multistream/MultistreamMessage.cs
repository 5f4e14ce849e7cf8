using System.Buffers;
using System.IO.Pipelines;
using System.Text;
using CircuitRelay.Multiformats;

namespace CircuitRelay.ReferenceHost.Multistream;

/// <summary>
/// multistream-select 1.0 frames (digest 4.1): <c>uvarint(len) || utf8(text) || '\n'</c>, where
/// <c>len</c> counts the newline.
/// </summary>
/// <remarks>
/// Reading never consumes a byte past the frame it returns: after negotiation the same pipe carries
/// the negotiated protocol's data, and it must find all of it.
/// </remarks>
internal static class MultistreamMessage
{
    /// <summary>The largest frame body accepted or sent, newline included (go-multistream's limit).</summary>
    public const int MaxLength = 1024;

    /// <summary>The multistream-select 1.0 header.</summary>
    public const string Header = "/multistream/1.0.0";

    /// <summary>The answer to a proposal the responder does not support.</summary>
    public const string NotAvailable = "na";

    /// <summary>The optional request for the responder's protocol list.</summary>
    public const string List = "ls";

    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>Writes one frame carrying <paramref name="message"/> into <paramref name="writer"/> (not flushed).</summary>
    /// <exception cref="ArgumentException">The message is empty, contains a newline, or its frame exceeds
    /// <see cref="MaxLength"/> bytes.</exception>
    public static void Write(PipeWriter writer, string message)
    {
        ArgumentNullException.ThrowIfNull(writer);
        ArgumentException.ThrowIfNullOrEmpty(message);
        if (message.Contains('\n', StringComparison.Ordinal))
        {
            throw new ArgumentException("A multistream message cannot contain a newline.", nameof(message));
        }

        int textLength = StrictUtf8.GetByteCount(message);
        int bodyLength = textLength + 1;
        if (bodyLength > MaxLength)
        {
            throw new ArgumentException($"The multistream message is {bodyLength} bytes; the limit is {MaxLength}.", nameof(message));
        }

        int prefixLength = Varint.GetByteCount((ulong)bodyLength);
        Span<byte> span = writer.GetSpan(prefixLength + bodyLength);
        int written = Varint.Write(span, (ulong)bodyLength);
        written += StrictUtf8.GetBytes(message, span[written..]);
        span[written++] = (byte)'\n';
        writer.Advance(written);
    }

    /// <summary>Reads exactly one frame from <paramref name="reader"/> and returns its text without the newline.</summary>
    /// <exception cref="InvalidDataException">The frame is longer than <see cref="MaxLength"/>, lacks the trailing
    /// newline, has a malformed length prefix or is not UTF-8.</exception>
    /// <exception cref="EndOfStreamException">The pipe ended before a whole frame arrived.</exception>
    /// <exception cref="OperationCanceledException">The read was cancelled.</exception>
    public static async ValueTask<string> ReadAsync(PipeReader reader, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(reader);
        while (true)
        {
            ReadResult result = await reader.ReadAsync(cancellationToken).ConfigureAwait(false);
            ReadOnlySequence<byte> buffer = result.Buffer;
            string? message;
            SequencePosition consumed;
            try
            {
                message = TryParse(buffer, out consumed);
            }
            catch
            {
                reader.AdvanceTo(buffer.Start);
                throw;
            }

            if (message is not null)
            {
                reader.AdvanceTo(consumed);
                return message;
            }

            reader.AdvanceTo(buffer.Start, buffer.End);
            if (result.IsCompleted)
            {
                throw new EndOfStreamException("The stream ended during multistream-select negotiation.");
            }

            if (result.IsCanceled)
            {
                throw new OperationCanceledException("The multistream-select read was cancelled.");
            }
        }
    }

    /// <summary>Parses one frame at the start of <paramref name="buffer"/>.</summary>
    /// <returns>The message, or <see langword="null"/> when the frame is incomplete.</returns>
    internal static string? TryParse(ReadOnlySequence<byte> buffer, out SequencePosition consumed)
    {
        var reader = new SequenceReader<byte>(buffer);
        consumed = buffer.Start;
        ulong length;
        try
        {
            if (!Varint.TryRead(ref reader, out length))
            {
                return null;
            }
        }
        catch (FormatException ex)
        {
            throw new InvalidDataException("The multistream length prefix is not a valid varint: " + ex.Message, ex);
        }

        if (length > MaxLength)
        {
            throw new InvalidDataException($"The multistream message is {length} bytes; the limit is {MaxLength}.");
        }

        if (length == 0)
        {
            throw new InvalidDataException("The multistream message did not have a trailing newline.");
        }

        if (reader.Remaining < (long)length)
        {
            return null;
        }

        ReadOnlySequence<byte> body = reader.UnreadSequence.Slice(0, (long)length);
        Span<byte> bytes = stackalloc byte[MaxLength];
        bytes = bytes[..(int)length];
        body.CopyTo(bytes);
        if (bytes[^1] != (byte)'\n')
        {
            throw new InvalidDataException("The multistream message did not have a trailing newline.");
        }

        string message;
        try
        {
            message = StrictUtf8.GetString(bytes[..^1]);
        }
        catch (DecoderFallbackException e)
        {
            throw new InvalidDataException("The multistream message is not valid UTF-8.", e);
        }

        consumed = body.End;
        return message;
    }
}
