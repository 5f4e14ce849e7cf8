using System.Buffers;
using System.IO.Pipelines;

namespace CircuitRelay.InMemory.Muxing;

/// <summary>The writer loop: writes the send queue to <c>raw.Output</c>, flushing once per batch.</summary>
internal sealed partial class MuxedConnection
{
    private async Task WriteLoopAsync()
    {
        PipeWriter output = _raw.Output;
        Exception? error = null;
        try
        {
            while (await _frames.Reader.WaitToReadAsync(_closing.Token).ConfigureAwait(false))
            {
                while (_frames.Reader.TryRead(out OutboundFrame frame))
                {
                    try
                    {
                        WriteFrame(output, frame);
                    }
                    finally
                    {
                        frame.Release();
                    }
                }

                FlushResult flush = await output.FlushAsync(_closing.Token).ConfigureAwait(false);
                if (flush.IsCompleted)
                {
                    // The remote stopped reading: the connection is over.
                    break;
                }
            }
        }
        catch (OperationCanceledException) when (_closing.IsCancellationRequested)
        {
            // Closed locally.
        }
        catch (Exception exception)
        {
            error = exception;
        }
        finally
        {
            Abort(error);
            while (_frames.Reader.TryRead(out OutboundFrame dropped))
            {
                dropped.Release();
            }

            Exception? closeError;
            lock (_sync)
            {
                closeError = _closeError;
            }

            // A failure reaches the remote as an IOException (over a stream, as a reset).
            output.Complete(closeError is null ? null : new IOException($"The connection {Info.Id} failed: {closeError.Message}", closeError));
        }
    }

    private static void WriteFrame(PipeWriter output, OutboundFrame frame)
    {
        Span<byte> header = stackalloc byte[MuxFrame.HeaderSize];
        MuxFrame.WriteHeader(header, frame.StreamId, frame.Type, frame.Length);
        output.Write(header);
        if (frame.Length > 0)
        {
            output.Write(frame.Payload);
        }
    }
}
