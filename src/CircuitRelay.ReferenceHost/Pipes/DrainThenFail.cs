using System.Buffers;
using System.IO.Pipelines;
using System.Runtime.CompilerServices;

namespace CircuitRelay.ReferenceHost.Pipes;

/// <summary>
/// Ends a pipe with an error that its reader sees only after it has read everything written before the error.
/// </summary>
/// <remarks>
/// <para>A <see cref="Pipe"/> whose writer completes with an exception throws it on the reader's next read even when
/// data is still buffered, so bytes that arrived and were decrypted before a connection failed were thrown away, and
/// how many depended on thread timing. The writer side instead calls <see cref="Fail"/> and then completes the writer
/// without an exception; the reader side passes every read result through <see cref="Apply"/>: while buffered data
/// remains the result is shown as not completed (so the application does not mistake the failure for a clean end of
/// stream), and once the application has consumed everything, or examined everything and asks for more than will ever
/// come, the read throws the error.</para>
/// <para>Used by one reader at a time, as a <see cref="PipeReader"/> is.</para>
/// </remarks>
internal sealed class DrainThenFail
{
    private Exception? _error;
    private ReadOnlySequence<byte> _masked;
    private bool _hasMasked;
    private bool _examinedAll;

    /// <summary>The error to surface after the data, once <see cref="Fail"/> set it.</summary>
    public Exception? Error => Volatile.Read(ref _error);

    /// <summary>Sets the error; call it before completing the pipe's writer without an exception. The first one wins.</summary>
    public void Fail(Exception error) => Interlocked.CompareExchange(ref _error, error, null);

    /// <summary>Shows <paramref name="result"/> to the application: unchanged, masked as not completed while data remains, or the error.</summary>
    public ReadResult Apply(ReadResult result)
    {
        Exception? error = Error;
        if (error is null || !result.IsCompleted || result.IsCanceled)
        {
            _hasMasked = false;
            return result;
        }

        if (result.Buffer.IsEmpty || (_hasMasked && _examinedAll))
        {
            _hasMasked = false;
            throw error;
        }

        _masked = result.Buffer;
        _hasMasked = true;
        _examinedAll = false;
        return new ReadResult(result.Buffer, isCanceled: false, isCompleted: false);
    }

    /// <summary>Records how far the application examined the last masked buffer (call it from <c>AdvanceTo</c>, before the inner advance).</summary>
    public void OnAdvance(SequencePosition consumed, SequencePosition examined)
    {
        if (!_hasMasked)
        {
            return;
        }

        _examinedAll = _masked.GetOffset(examined) >= _masked.GetOffset(_masked.End);
        _masked = default;
        _ = consumed;
    }
}

/// <summary>A <see cref="PipeReader"/> over another that applies <see cref="DrainThenFail"/>.</summary>
internal sealed class DrainingPipeReader(PipeReader inner) : PipeReader
{
    /// <summary>Where the writer side sets the error to surface after the data.</summary>
    public DrainThenFail Completion { get; } = new();

    /// <inheritdoc />
    public override void AdvanceTo(SequencePosition consumed) => AdvanceTo(consumed, consumed);

    /// <inheritdoc />
    public override void AdvanceTo(SequencePosition consumed, SequencePosition examined)
    {
        Completion.OnAdvance(consumed, examined);
        inner.AdvanceTo(consumed, examined);
    }

    /// <inheritdoc />
    public override void CancelPendingRead() => inner.CancelPendingRead();

    /// <inheritdoc />
    public override void Complete(Exception? exception = null) => inner.Complete(exception);

    /// <inheritdoc />
    /// <remarks>
    /// On the data path (every Noise read): a read that completed synchronously is passed through without an async
    /// state machine, and one that did not awaits in a pooled one (as the Yamux stream reader does), so a read
    /// allocates nothing.
    /// </remarks>
    public override ValueTask<ReadResult> ReadAsync(CancellationToken cancellationToken = default)
    {
        ValueTask<ReadResult> read = inner.ReadAsync(cancellationToken);
        return read.IsCompletedSuccessfully ? new ValueTask<ReadResult>(Completion.Apply(read.Result)) : AwaitReadAsync(read);
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<ReadResult> AwaitReadAsync(ValueTask<ReadResult> read) => Completion.Apply(await read.ConfigureAwait(false));

    /// <inheritdoc />
    public override bool TryRead(out ReadResult result)
    {
        if (!inner.TryRead(out result))
        {
            return false;
        }

        result = Completion.Apply(result);
        return true;
    }
}
