using System.IO.Pipelines;

namespace CircuitRelay.ReferenceHost.Yamux;

/// <summary>
/// The application's view of a stream's send pipe: once the stream is reset, flushes fail at once with the
/// reset's exception instead of whenever the send loop notices.
/// </summary>
internal sealed class YamuxStreamWriter(YamuxStream stream, PipeWriter inner) : PipeWriter
{
    /// <inheritdoc />
    public override bool CanGetUnflushedBytes => inner.CanGetUnflushedBytes;

    /// <inheritdoc />
    public override long UnflushedBytes => inner.UnflushedBytes;

    /// <inheritdoc />
    public override void Advance(int bytes) => inner.Advance(bytes);

    /// <inheritdoc />
    public override void CancelPendingFlush() => inner.CancelPendingFlush();

    /// <inheritdoc />
    public override void Complete(Exception? exception = null) => inner.Complete(exception);

    /// <inheritdoc />
    public override ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default)
    {
        if (stream.ResetException is { } reset)
        {
            return ValueTask.FromException<FlushResult>(reset);
        }

        return inner.FlushAsync(cancellationToken);
    }

    /// <inheritdoc />
    public override Memory<byte> GetMemory(int sizeHint = 0) => inner.GetMemory(sizeHint);

    /// <inheritdoc />
    public override Span<byte> GetSpan(int sizeHint = 0) => inner.GetSpan(sizeHint);
}
