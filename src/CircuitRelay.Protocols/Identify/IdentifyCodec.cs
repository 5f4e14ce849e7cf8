using System.IO.Pipelines;
using CircuitRelay.Multiformats;
using Google.Protobuf;
using IdentifyMessage = CircuitRelay.Protocols.Identify.Pb.Identify;

namespace CircuitRelay.Protocols.Identify;

/// <summary>
/// Identify framing (digest 8.1): uvarint-length-prefixed protobuf messages, read until end of stream
/// and merged with protobuf merge semantics, as go does.
/// </summary>
/// <remarks>The framing is the shared <see cref="LengthPrefixed"/> (the cap checked before the body, never a byte past the frame).</remarks>
internal static class IdentifyCodec
{
    /// <summary>The largest message this node sends (go trims to about 4 KiB for rust, which accepts 4096).</summary>
    public const int MaxSendSize = 4096;

    /// <summary>The largest single message accepted (go's limit).</summary>
    public const int MaxReceiveSize = 8 * 1024;

    /// <summary>The most messages read from one stream (go's limit); anything after them is ignored.</summary>
    public const int MaxMessages = 10;

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
            byte[]? body = await LengthPrefixed.ReadAsync(reader, MaxReceiveSize, cancellationToken).ConfigureAwait(false);
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
        ArgumentNullException.ThrowIfNull(message);
        return LengthPrefixed.WriteAsync(writer, message.ToByteArray(), cancellationToken);
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
