using System.Buffers;
using System.IO.Pipelines;

namespace CircuitRelay.InMemory.Muxing;

/// <summary>
/// The application's side of a stream's receive pipe. It counts the bytes the application consumes
/// (<see cref="AdvanceTo(SequencePosition, SequencePosition)"/>) so that the stream can return send
/// credit to the remote, and it tells the stream when the application stops reading.
/// </summary>
internal sealed class StreamInput(PipeReader inner, MuxedStream stream) : PipeReader
{
    private ReadOnlySequence<byte> _lastBuffer;

    /// <inheritdoc />
    public override ValueTask<ReadResult> ReadAsync(CancellationToken cancellationToken = default)
    {
        ValueTask<ReadResult> read = inner.ReadAsync(cancellationToken);
        if (read.IsCompletedSuccessfully)
        {
            ReadResult result = read.Result;
            _lastBuffer = result.Buffer;
            return new ValueTask<ReadResult>(result);
        }

        return AwaitReadAsync(read);
    }

    /// <inheritdoc />
    public override bool TryRead(out ReadResult result)
    {
        if (inner.TryRead(out result))
        {
            _lastBuffer = result.Buffer;
            return true;
        }

        return false;
    }

    /// <inheritdoc />
    public override void AdvanceTo(SequencePosition consumed) => AdvanceTo(consumed, consumed);

    /// <inheritdoc />
    public override void AdvanceTo(SequencePosition consumed, SequencePosition examined)
    {
        long consumedBytes = _lastBuffer.Slice(_lastBuffer.Start, consumed).Length;
        inner.AdvanceTo(consumed, examined);
        _lastBuffer = default;
        if (consumedBytes > 0)
        {
            stream.OnConsumed(consumedBytes);
        }
    }

    /// <inheritdoc />
    public override void CancelPendingRead() => inner.CancelPendingRead();

    /// <inheritdoc />
    public override void Complete(Exception? exception = null)
    {
        // The stream stops writing into the pipe before the reader side completes, so a reader
        // completed with an exception never makes the stream's receive path throw.
        stream.OnInputCompleted();
        inner.Complete(exception);
    }

    private async ValueTask<ReadResult> AwaitReadAsync(ValueTask<ReadResult> read)
    {
        ReadResult result = await read.ConfigureAwait(false);
        _lastBuffer = result.Buffer;
        return result;
    }
}
