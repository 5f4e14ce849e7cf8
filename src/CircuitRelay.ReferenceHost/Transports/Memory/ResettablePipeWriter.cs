using System.IO.Pipelines;

namespace CircuitRelay.ReferenceHost.Transports.Memory;

/// <summary>
/// A pipe writer whose flushes fail with <see cref="IOException"/> ("connection reset") once its
/// <see cref="MemoryLink"/> is reset, pending ones included (the reset cancels them). Buffering
/// (<see cref="GetMemory"/>, <see cref="Advance"/>) goes on, as on a socket the failure shows on the next send.
/// </summary>
internal sealed class ResettablePipeWriter(PipeWriter inner, MemoryLink link) : PipeWriter
{
    public override bool CanGetUnflushedBytes => inner.CanGetUnflushedBytes;

    public override long UnflushedBytes => inner.UnflushedBytes;

    public override void Advance(int bytes) => inner.Advance(bytes);

    public override Memory<byte> GetMemory(int sizeHint = 0) => inner.GetMemory(sizeHint);

    public override Span<byte> GetSpan(int sizeHint = 0) => inner.GetSpan(sizeHint);

    public override ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default) =>
        link.IsReset ? ValueTask.FromException<FlushResult>(MemoryLink.ResetException()) : Check(inner.FlushAsync(cancellationToken));

    public override ValueTask<FlushResult> WriteAsync(ReadOnlyMemory<byte> source, CancellationToken cancellationToken = default) =>
        link.IsReset ? ValueTask.FromException<FlushResult>(MemoryLink.ResetException()) : Check(inner.WriteAsync(source, cancellationToken));

    public override void CancelPendingFlush() => inner.CancelPendingFlush();

    public override void Complete(Exception? exception = null) => inner.Complete(exception);

    public override ValueTask CompleteAsync(Exception? exception = null) => inner.CompleteAsync(exception);

    private ValueTask<FlushResult> Check(ValueTask<FlushResult> flush)
    {
        if (!flush.IsCompletedSuccessfully)
        {
            return AwaitAsync(flush);
        }

        FlushResult result = flush.Result;
        return link.IsReset ? ValueTask.FromException<FlushResult>(MemoryLink.ResetException()) : new ValueTask<FlushResult>(result);

        async ValueTask<FlushResult> AwaitAsync(ValueTask<FlushResult> pending)
        {
            FlushResult completed = await pending.ConfigureAwait(false);
            return link.IsReset ? throw MemoryLink.ResetException() : completed;
        }
    }
}
