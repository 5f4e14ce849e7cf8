using System.Buffers;
using System.IO.Pipelines;
using System.Runtime.CompilerServices;
using CircuitRelay.ReferenceHost.Pipes;

namespace CircuitRelay.ReferenceHost.Yamux;

/// <summary>
/// The application's view of a stream's receive pipe: tells the stream how many bytes each
/// <see cref="PipeReader.AdvanceTo(SequencePosition)"/> consumed, so it can grant window back. It also keeps the
/// <c>ILibp2pStream</c> exception contract (<see cref="StreamBoundary"/>), so no further wrapper sits on the data path.
/// </summary>
/// <remarks>When the session ends, what the stream received stays readable and the failure comes after it (<see cref="DrainThenFail"/>).</remarks>
internal sealed class YamuxStreamReader(YamuxStream stream, PipeReader inner) : PipeReader
{
    private ReadOnlySequence<byte> _lastBuffer;
    private bool _hasBuffer;

    /// <summary>Where the stream sets the failure to surface once the received data is read.</summary>
    public DrainThenFail Completion { get; } = new();

    /// <inheritdoc />
    public override void AdvanceTo(SequencePosition consumed) => AdvanceTo(consumed, consumed);

    /// <inheritdoc />
    public override void AdvanceTo(SequencePosition consumed, SequencePosition examined)
    {
        long count = _hasBuffer ? _lastBuffer.GetOffset(consumed) - _lastBuffer.GetOffset(_lastBuffer.Start) : 0;
        _hasBuffer = false;
        _lastBuffer = default;
        Completion.OnAdvance(consumed, examined);
        try
        {
            inner.AdvanceTo(consumed, examined);
        }
        catch (Exception ex) when (StreamBoundary.IsForeign(ex))
        {
            throw StreamBoundary.Translate(ex);
        }

        if (count > 0)
        {
            stream.OnConsumed(count);
        }
    }

    /// <inheritdoc />
    public override void CancelPendingRead() => inner.CancelPendingRead();

    /// <inheritdoc />
    public override void Complete(Exception? exception = null)
    {
        _hasBuffer = false;
        _lastBuffer = default;
        inner.Complete(exception);
        stream.OnInputCompleted();
    }

    /// <inheritdoc />
    public override ValueTask<ReadResult> ReadAsync(CancellationToken cancellationToken = default)
    {
        ValueTask<ReadResult> read;
        try
        {
            read = inner.ReadAsync(cancellationToken);
        }
        catch (Exception ex) when (StreamBoundary.IsForeign(ex))
        {
            throw StreamBoundary.Translate(ex);
        }

        return read.IsCompletedSuccessfully ? new ValueTask<ReadResult>(Track(read.Result)) : AwaitReadAsync(read);
    }

    /// <inheritdoc />
    public override bool TryRead(out ReadResult result)
    {
        try
        {
            if (inner.TryRead(out result))
            {
                result = Track(result);
                return true;
            }

            return false;
        }
        catch (Exception ex) when (StreamBoundary.IsForeign(ex))
        {
            throw StreamBoundary.Translate(ex);
        }
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<ReadResult> AwaitReadAsync(ValueTask<ReadResult> read)
    {
        try
        {
            return Track(await read.ConfigureAwait(false));
        }
        catch (Exception ex) when (StreamBoundary.IsForeign(ex))
        {
            throw StreamBoundary.Translate(ex);
        }
    }

    private ReadResult Track(ReadResult result)
    {
        ReadResult shown;
        try
        {
            shown = Completion.Apply(result);
        }
        catch (Exception ex) when (StreamBoundary.IsForeign(ex))
        {
            throw StreamBoundary.Translate(ex);
        }

        _lastBuffer = shown.Buffer;
        _hasBuffer = true;
        return shown;
    }
}
