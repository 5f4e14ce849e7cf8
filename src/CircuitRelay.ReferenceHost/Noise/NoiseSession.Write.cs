using System.Buffers;
using System.Buffers.Binary;
using System.IO.Pipelines;

namespace CircuitRelay.ReferenceHost.Noise;

/// <summary>The send direction: plaintext to raw frames.</summary>
internal sealed partial class NoiseSession
{
    /// <summary>A segment tail at least this long is sent as a frame of its own rather than copied to join the next segment.</summary>
    private const int MinDirectFrame = 4096;

    private async Task WritePumpAsync()
    {
        PipeReader source = _outbound.Reader;
        PipeWriter sink = _raw.Output;
        CancellationToken token = _abort.Token;
        Exception? error = null;
        try
        {
            while (true)
            {
                ReadResult result = await source.ReadAsync(token).ConfigureAwait(false);
                ReadOnlySequence<byte> buffer = result.Buffer;
                bool connectionDone = false;
                try
                {
                    while (!buffer.IsEmpty)
                    {
                        ReadOnlySequence<byte> chunk = NextFramePlaintext(buffer);
                        EncryptFrame(chunk, sink);
                        buffer = buffer.Slice(chunk.End);
                        FlushResult flush = await sink.FlushAsync(token).ConfigureAwait(false);
                        if (flush.IsCompleted)
                        {
                            connectionDone = true;
                            break;
                        }
                    }
                }
                finally
                {
                    source.AdvanceTo(buffer.Start, buffer.End);
                }

                if (connectionDone || result.IsCompleted)
                {
                    // Either the connection stopped reading, or the application completed Output and
                    // everything it wrote has been flushed: half-close.
                    break;
                }
            }
        }
        catch (OperationCanceledException) when (token.IsCancellationRequested)
        {
            error = AbortReason;
        }
        catch (Exception ex)
        {
            error = ex;
            Abort(ex);
        }
        finally
        {
            _send.Dispose();
            await sink.CompleteAsync(error).ConfigureAwait(false);
            await source.CompleteAsync(error).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// The plaintext of the next frame: up to <see cref="NoiseFraming.MaxPlaintextLength"/> bytes, cut at the end of
    /// the first buffer segment when that segment is large enough to make a frame of its own, so most frames encrypt
    /// straight from the pipe's memory; only a short tail of a segment is gathered with what follows into one frame.
    /// </summary>
    private static ReadOnlySequence<byte> NextFramePlaintext(in ReadOnlySequence<byte> buffer)
    {
        long length = Math.Min(buffer.Length, NoiseFraming.MaxPlaintextLength);
        int first = buffer.FirstSpan.Length;
        if (first < length && first >= MinDirectFrame)
        {
            length = first;
        }

        return buffer.Slice(0, length);
    }

    private void EncryptFrame(in ReadOnlySequence<byte> plaintext, PipeWriter sink)
    {
        int plaintextLength = (int)plaintext.Length;
        int ciphertextLength = plaintextLength + NoiseCipherState.TagSize;
        int frameLength = NoiseFraming.LengthPrefixSize + ciphertextLength;

        byte[]? rentedInput = null;
        byte[]? rentedOutput = null;
        try
        {
            ReadOnlySpan<byte> input;
            if (plaintext.IsSingleSegment)
            {
                input = plaintext.FirstSpan;
            }
            else
            {
                rentedInput = ArrayPool<byte>.Shared.Rent(plaintextLength);
                plaintext.CopyTo(rentedInput);
                input = rentedInput.AsSpan(0, plaintextLength);
            }

            // Encrypt straight into the connection's buffer when it offers a large enough one.
            Span<byte> destination = sink.GetSpan(frameLength);
            if (destination.Length < frameLength)
            {
                rentedOutput = ArrayPool<byte>.Shared.Rent(frameLength);
                destination = rentedOutput;
            }

            destination = destination[..frameLength];
            BinaryPrimitives.WriteUInt16BigEndian(destination, (ushort)ciphertextLength);
            _send.EncryptWithAd([], input, destination[NoiseFraming.LengthPrefixSize..]);
            if (rentedOutput is null)
            {
                sink.Advance(frameLength);
            }
            else
            {
                sink.Write(destination);
            }
        }
        finally
        {
            if (rentedInput is not null)
            {
                ArrayPool<byte>.Shared.Return(rentedInput);
            }

            if (rentedOutput is not null)
            {
                ArrayPool<byte>.Shared.Return(rentedOutput);
            }
        }
    }
}
