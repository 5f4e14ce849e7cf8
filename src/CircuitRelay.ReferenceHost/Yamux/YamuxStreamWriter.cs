using System.IO.Pipelines;

namespace CircuitRelay.ReferenceHost.Yamux;

/// <summary>
/// The application's view of a stream's send pipe: once the stream is reset, flushes fail at once with the
/// reset's exception instead of whenever the send loop notices. It also keeps the <c>ILibp2pStream</c> exception
/// contract (<see cref="StreamBoundary"/>), so no further wrapper sits on the data path.
/// </summary>
internal sealed class YamuxStreamWriter(YamuxStream stream, PipeWriter inner) : PipeWriter
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
        catch (Exception ex) when (StreamBoundary.IsForeign(ex))
        {
            throw StreamBoundary.Translate(ex);
        }
    }

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

        // The pipe refuses a misuse (a completed writer) synchronously; a flush that fails later fails with what the
        // stream completed the pipe with (a reset), which keeps the contract already. So no await wrapper is needed.
        try
        {
            return inner.FlushAsync(cancellationToken);
        }
        catch (Exception ex) when (StreamBoundary.IsForeign(ex))
        {
            throw StreamBoundary.Translate(ex);
        }
    }

    /// <inheritdoc />
    public override Memory<byte> GetMemory(int sizeHint = 0)
    {
        try
        {
            return inner.GetMemory(sizeHint);
        }
        catch (Exception ex) when (StreamBoundary.IsForeign(ex))
        {
            throw StreamBoundary.Translate(ex);
        }
    }

    /// <inheritdoc />
    public override Span<byte> GetSpan(int sizeHint = 0)
    {
        try
        {
            return inner.GetSpan(sizeHint);
        }
        catch (Exception ex) when (StreamBoundary.IsForeign(ex))
        {
            throw StreamBoundary.Translate(ex);
        }
    }
}
