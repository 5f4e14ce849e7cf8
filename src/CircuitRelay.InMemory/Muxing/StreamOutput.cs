using System.IO.Pipelines;

namespace CircuitRelay.InMemory.Muxing;

/// <summary>
/// The application's side of a stream's send pipe. Once the stream is reset, flushes fail at once
/// with the reset's <see cref="IOException"/> (the pump completes the pipe with it shortly after).
/// </summary>
internal sealed class StreamOutput(PipeWriter inner, MuxedStream stream) : PipeWriter
{
    /// <inheritdoc />
    public override bool CanGetUnflushedBytes => inner.CanGetUnflushedBytes;

    /// <inheritdoc />
    public override long UnflushedBytes => inner.UnflushedBytes;

    /// <inheritdoc />
    public override void Advance(int bytes) => inner.Advance(bytes);

    /// <inheritdoc />
    public override Memory<byte> GetMemory(int sizeHint = 0) => inner.GetMemory(sizeHint);

    /// <inheritdoc />
    public override Span<byte> GetSpan(int sizeHint = 0) => inner.GetSpan(sizeHint);

    /// <inheritdoc />
    public override void CancelPendingFlush() => inner.CancelPendingFlush();

    /// <inheritdoc />
    public override void Complete(Exception? exception = null) => inner.Complete(exception);

    /// <inheritdoc />
    public override ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default)
    {
        stream.ThrowIfReset();
        return inner.FlushAsync(cancellationToken);
    }
}
