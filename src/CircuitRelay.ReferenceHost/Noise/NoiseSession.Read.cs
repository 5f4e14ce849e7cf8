using System.Buffers;
using System.IO.Pipelines;

namespace CircuitRelay.ReferenceHost.Noise;

/// <summary>The receive direction: raw frames to plaintext.</summary>
internal sealed partial class NoiseSession
{
    private async Task ReadPumpAsync()
    {
        PipeReader source = _raw.Input;
        PipeWriter sink = _inbound.Writer;
        CancellationToken token = _abort.Token;
        Exception? error = null;
        try
        {
            while (true)
            {
                ReadResult result = await source.ReadAsync(token).ConfigureAwait(false);
                ReadOnlySequence<byte> buffer = result.Buffer;
                bool applicationDone = false;
                long partial;
                try
                {
                    while (NoiseFraming.TryReadFrame(ref buffer, out ReadOnlySequence<byte> frame))
                    {
                        DecryptFrame(frame, sink);
                        FlushResult flush = await sink.FlushAsync(token).ConfigureAwait(false);
                        if (flush.IsCompleted)
                        {
                            applicationDone = true;
                            break;
                        }
                    }

                    partial = buffer.Length;
                }
                finally
                {
                    source.AdvanceTo(buffer.Start, buffer.End);
                }

                if (applicationDone)
                {
                    // The application completed Input: stop reading the connection, or read to its end and drop it.
                    if (DrainInputAfterCompletion)
                    {
                        await DiscardUntilEndAsync(source, token).ConfigureAwait(false);
                    }

                    break;
                }

                if (result.IsCompleted)
                {
                    if (partial > 0)
                    {
                        throw new EndOfStreamException($"The connection closed in the middle of a Noise frame ({partial} bytes of an incomplete frame).");
                    }

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
            _receive.Dispose();
            await source.CompleteAsync(error).ConfigureAwait(false);

            // What was decrypted before the failure stays readable; the error comes after it.
            if (error is not null)
            {
                _input.Completion.Fail(error);
            }

            await sink.CompleteAsync().ConfigureAwait(false);
        }
    }

    private static async Task DiscardUntilEndAsync(PipeReader source, CancellationToken token)
    {
        while (true)
        {
            ReadResult result = await source.ReadAsync(token).ConfigureAwait(false);
            source.AdvanceTo(result.Buffer.End);
            if (result.IsCompleted || result.IsCanceled)
            {
                return;
            }
        }
    }

    private void DecryptFrame(in ReadOnlySequence<byte> frame, PipeWriter sink)
    {
        int length = (int)frame.Length;
        if (length < NoiseCipherState.TagSize)
        {
            throw new InvalidDataException($"A Noise transport frame is {length} bytes, shorter than its {NoiseCipherState.TagSize}-byte tag.");
        }

        int plaintextLength = length - NoiseCipherState.TagSize;
        Span<byte> destination = sink.GetSpan(plaintextLength)[..plaintextLength];
        int written;
        if (frame.IsSingleSegment)
        {
            written = _receive.DecryptWithAd([], frame.FirstSpan, destination);
        }
        else
        {
            byte[] rented = ArrayPool<byte>.Shared.Rent(length);
            try
            {
                frame.CopyTo(rented);
                written = _receive.DecryptWithAd([], rented.AsSpan(0, length), destination);
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(rented);
            }
        }

        sink.Advance(written);
    }
}
