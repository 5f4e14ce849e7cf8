using System.IO.Pipelines;

namespace CircuitRelay.ReferenceHost.Transports.Memory;

/// <summary>
/// A pipe reader whose reads fail with <see cref="IOException"/> ("connection reset") once its
/// <see cref="MemoryLink"/> is reset, pending ones included (the reset cancels them).
/// </summary>
internal sealed class ResettablePipeReader(PipeReader inner, MemoryLink link) : PipeReader
{
    public override ValueTask<ReadResult> ReadAsync(CancellationToken cancellationToken = default)
    {
        if (link.IsReset)
        {
            return ValueTask.FromException<ReadResult>(MemoryLink.ResetException());
        }

        ValueTask<ReadResult> read = inner.ReadAsync(cancellationToken);
        if (!read.IsCompletedSuccessfully)
        {
            return AwaitAsync(read);
        }

        ReadResult result = read.Result;
        return link.IsReset ? ValueTask.FromException<ReadResult>(MemoryLink.ResetException()) : new ValueTask<ReadResult>(result);

        async ValueTask<ReadResult> AwaitAsync(ValueTask<ReadResult> pending)
        {
            ReadResult completed = await pending.ConfigureAwait(false);

            // The reset cancelled this read; data that raced it is dropped, as a reset may drop buffered data.
            return link.IsReset ? throw MemoryLink.ResetException() : completed;
        }
    }

    public override bool TryRead(out ReadResult result)
    {
        ThrowIfReset();
        bool read = inner.TryRead(out result);
        ThrowIfReset();
        return read;
    }

    public override void AdvanceTo(SequencePosition consumed) => inner.AdvanceTo(consumed);

    public override void AdvanceTo(SequencePosition consumed, SequencePosition examined) => inner.AdvanceTo(consumed, examined);

    public override void CancelPendingRead() => inner.CancelPendingRead();

    public override void Complete(Exception? exception = null) => inner.Complete(exception);

    public override ValueTask CompleteAsync(Exception? exception = null) => inner.CompleteAsync(exception);

    private void ThrowIfReset()
    {
        if (link.IsReset)
        {
            throw MemoryLink.ResetException();
        }
    }
}
