using System.IO.Pipelines;
using System.Runtime.CompilerServices;

namespace CircuitRelay.InMemory.Muxing;

/// <summary>
/// The application's side of a stream's send pipe. Once the stream is reset, flushes fail at once
/// with the reset's <see cref="IOException"/> (the pump completes the pipe with it shortly after).
/// Its failures keep the <see cref="CircuitRelay.Abstractions.ILibp2pStream"/> contract: what the pipe throws
/// besides <see cref="IOException"/> and <see cref="OperationCanceledException"/> (an
/// <see cref="InvalidOperationException"/> once the writer is completed) is translated, without an allocation per write.
/// </summary>
internal sealed class StreamOutput(PipeWriter inner, MuxedStream stream) : PipeWriter
{
    /// <inheritdoc />
    public override bool CanGetUnflushedBytes => inner.CanGetUnflushedBytes;

    /// <inheritdoc />
    public override long UnflushedBytes => inner.UnflushedBytes;

    /// <inheritdoc />
    public override void Advance(int bytes)
    {
        try
        {
            inner.Advance(bytes);
        }
        catch (Exception ex) when (StreamErrors.IsForeign(ex))
        {
            throw StreamErrors.Translate(ex);
        }
    }

    /// <inheritdoc />
    public override Memory<byte> GetMemory(int sizeHint = 0)
    {
        try
        {
            return inner.GetMemory(sizeHint);
        }
        catch (Exception ex) when (StreamErrors.IsForeign(ex))
        {
            throw StreamErrors.Translate(ex);
        }
    }

    /// <inheritdoc />
    public override Span<byte> GetSpan(int sizeHint = 0)
    {
        try
        {
            return inner.GetSpan(sizeHint);
        }
        catch (Exception ex) when (StreamErrors.IsForeign(ex))
        {
            throw StreamErrors.Translate(ex);
        }
    }

    /// <inheritdoc />
    public override void CancelPendingFlush() => inner.CancelPendingFlush();

    /// <inheritdoc />
    public override void Complete(Exception? exception = null) => inner.Complete(exception);

    /// <inheritdoc />
    public override ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default)
    {
        stream.ThrowIfReset();
        ValueTask<FlushResult> flush;
        try
        {
            flush = inner.FlushAsync(cancellationToken);
        }
        catch (Exception ex) when (StreamErrors.IsForeign(ex))
        {
            throw StreamErrors.Translate(ex);
        }

        return flush.IsCompletedSuccessfully ? flush : AwaitFlushAsync(flush);
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private static async ValueTask<FlushResult> AwaitFlushAsync(ValueTask<FlushResult> flush)
    {
        try
        {
            return await flush.ConfigureAwait(false);
        }
        catch (Exception ex) when (StreamErrors.IsForeign(ex))
        {
            throw StreamErrors.Translate(ex);
        }
    }
}
