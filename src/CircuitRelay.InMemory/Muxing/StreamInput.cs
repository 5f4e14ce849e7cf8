using System.Buffers;
using System.IO.Pipelines;
using System.Runtime.CompilerServices;

namespace CircuitRelay.InMemory.Muxing;

/// <summary>
/// The application's side of a stream's receive pipe. It counts the bytes the application consumes
/// (<see cref="AdvanceTo(SequencePosition, SequencePosition)"/>) so that the stream can return send
/// credit to the remote, and it tells the stream when the application stops reading. Its failures keep the
/// <see cref="CircuitRelay.Abstractions.ILibp2pStream"/> contract: <see cref="IOException"/> (a reset, the connection's
/// end) or <see cref="OperationCanceledException"/>; what the pipe throws otherwise (an <see cref="InvalidOperationException"/>
/// once the reader is completed) is translated, without an allocation per read.
/// </summary>
internal sealed class StreamInput(PipeReader inner, MuxedStream stream) : PipeReader
{
    private ReadOnlySequence<byte> _lastBuffer;

    /// <inheritdoc />
    public override ValueTask<ReadResult> ReadAsync(CancellationToken cancellationToken = default)
    {
        ValueTask<ReadResult> read;
        try
        {
            read = inner.ReadAsync(cancellationToken);
        }
        catch (Exception ex) when (StreamErrors.IsForeign(ex))
        {
            throw StreamErrors.Translate(ex);
        }

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
        bool read;
        try
        {
            read = inner.TryRead(out result);
        }
        catch (Exception ex) when (StreamErrors.IsForeign(ex))
        {
            throw StreamErrors.Translate(ex);
        }

        if (read)
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
        long consumedBytes;
        try
        {
            consumedBytes = _lastBuffer.Slice(_lastBuffer.Start, consumed).Length;
            inner.AdvanceTo(consumed, examined);
        }
        catch (Exception ex) when (StreamErrors.IsForeign(ex))
        {
            throw StreamErrors.Translate(ex);
        }

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

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<ReadResult> AwaitReadAsync(ValueTask<ReadResult> read)
    {
        ReadResult result;
        try
        {
            result = await read.ConfigureAwait(false);
        }
        catch (Exception ex) when (StreamErrors.IsForeign(ex))
        {
            throw StreamErrors.Translate(ex);
        }

        _lastBuffer = result.Buffer;
        return result;
    }
}
