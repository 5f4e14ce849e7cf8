using System.Buffers;
using System.IO.Pipelines;
using System.Runtime.CompilerServices;
using System.Threading.Channels;

namespace CircuitRelay.ReferenceHost.Yamux;

/// <content>The write side: one lock serializes every frame onto the transport.</content>
internal sealed partial class YamuxSession
{
    private readonly SemaphoreSlim _writeLock = new(1, 1);
    private readonly Channel<YamuxHeader> _control;
    private int _pendingControlFrames;
    private bool _goAwaySent;

    /// <summary>Writes one frame (header and payload, copied into the transport's buffer) and flushes it.</summary>
    /// <exception cref="IOException">The session is closed or the transport failed.</exception>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    internal async ValueTask SendFrameAsync(YamuxHeader header, ReadOnlySequence<byte> payload)
    {
        CancellationToken closed = _closedCts.Token;
        try
        {
            await _writeLock.WaitAsync(closed).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            throw CreateClosedException();
        }

        try
        {
            if (closed.IsCancellationRequested)
            {
                throw CreateClosedException();
            }

            PipeWriter output = _transport.Output;
            header.Write(output.GetSpan(YamuxHeader.Size));
            output.Advance(YamuxHeader.Size);
            foreach (ReadOnlyMemory<byte> segment in payload)
            {
                output.Write(segment.Span);
            }

            await FlushLockedAsync(output, closed).ConfigureAwait(false);
        }
        finally
        {
            _writeLock.Release();
        }
    }

    /// <summary>Queues a header-only frame from a path that cannot wait (the reader loop, a stream's bookkeeping).</summary>
    internal void EnqueueControl(YamuxHeader header)
    {
        if (Interlocked.Increment(ref _pendingControlFrames) > _options.MaxPendingControlFrames)
        {
            Interlocked.Decrement(ref _pendingControlFrames);
            Log.YamuxControlQueueOverflow(_logger, _options.MaxPendingControlFrames);

            // Close off this call stack: the caller may hold a stream's lock.
            ThreadPool.QueueUserWorkItem(
                static session => session.BeginClose(YamuxGoAwayCode.InternalError, new IOException("The Yamux peer does not read its connection."), abortTransport: false),
                this,
                preferLocal: false);
            return;
        }

        if (!_control.Writer.TryWrite(header))
        {
            Interlocked.Decrement(ref _pendingControlFrames);
        }
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask FlushLockedAsync(PipeWriter output, CancellationToken closed)
    {
        FlushResult result;
        try
        {
            result = await output.FlushAsync(closed).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (closed.IsCancellationRequested)
        {
            throw CreateClosedException();
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            ThreadPool.QueueUserWorkItem(static state => state.Session.BeginClose(null, state.Error, abortTransport: false), (Session: this, Error: e), preferLocal: false);
            throw new IOException("The Yamux connection failed.", e);
        }

        if (result.IsCompleted)
        {
            var error = new IOException("The Yamux connection was closed by the peer.");
            ThreadPool.QueueUserWorkItem(static state => state.Session.BeginClose(null, state.Error, abortTransport: false), (Session: this, Error: error), preferLocal: false);
            throw error;
        }

        if (result.IsCanceled)
        {
            throw CreateClosedException();
        }
    }

    private async Task ControlLoopAsync()
    {
        ChannelReader<YamuxHeader> queue = _control.Reader;
        CancellationToken closed = _closedCts.Token;
        try
        {
            while (await queue.WaitToReadAsync(closed).ConfigureAwait(false))
            {
                await _writeLock.WaitAsync(closed).ConfigureAwait(false);
                try
                {
                    PipeWriter output = _transport.Output;
                    int count = 0;
                    while (count < 256 && queue.TryRead(out YamuxHeader header))
                    {
                        header.Write(output.GetSpan(YamuxHeader.Size));
                        output.Advance(YamuxHeader.Size);
                        count++;
                    }

                    Interlocked.Add(ref _pendingControlFrames, -count);
                    await FlushLockedAsync(output, closed).ConfigureAwait(false);
                }
                finally
                {
                    _writeLock.Release();
                }
            }
        }
        catch (Exception e) when (e is OperationCanceledException or IOException)
        {
            // The session is closing (a failed flush already started it).
        }
    }
}
