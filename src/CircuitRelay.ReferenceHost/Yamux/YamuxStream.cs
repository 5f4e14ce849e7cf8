using System.Buffers;
using System.Diagnostics;
using System.IO.Pipelines;
using System.Runtime.CompilerServices;

namespace CircuitRelay.ReferenceHost.Yamux;

/// <summary>
/// One Yamux stream: a duplex pipe with per-direction flow control (digest 6.2, 6.3).
/// </summary>
/// <remarks>
/// <para>The stream follows the <c>ILibp2pStream</c> contract, so a host can expose it as one once a
/// protocol is negotiated (<see cref="YamuxLibp2pStream"/>):</para>
/// <list type="bullet">
/// <item>Completing <see cref="Output"/> sends FIN after every byte written before it; completing it with an
/// exception resets the stream.</item>
/// <item><see cref="Input"/> ends after the peer's FIN and all data before it; after a reset its reads throw
/// <see cref="YamuxStreamResetException"/>, as do writes to <see cref="Output"/>.</item>
/// <item>Completing <see cref="Input"/> drops unread data and whatever still arrives (its window is granted back,
/// so the peer is not stalled).</item>
/// <item><see cref="Abort"/> sends RST; <see cref="DisposeAsync"/> completes both sides gracefully.</item>
/// </list>
/// <para>Memory is bounded in both directions: the receive buffer never holds more than the window granted to
/// the peer, and flushes to <see cref="Output"/> wait once <see cref="YamuxOptions.StreamWriteBufferSize"/> bytes
/// are waiting for the peer's window.</para>
/// </remarks>
internal sealed partial class YamuxStream : IDuplexPipe, IAsyncDisposable
{
    /// <summary>The largest segment of the stream pipes (the default frame payload size): the send pipe's size, and the
    /// receive pipe's for a large frame.</summary>
    private const int SegmentSize = 64 * 1024;

    private readonly YamuxSession _session;
    private readonly Lock _sync = new();
    private readonly Pipe _receivePipe;
    private readonly Pipe _sendPipe;
    private readonly YamuxStreamReader _input;
    private readonly YamuxStreamWriter _output;
    private readonly TaskCompletionSource _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly int _maxReceiveWindow;

    // Receive direction (guarded by _sync).
    private long _receiveWindow;
    private long _receiveWindowSize;
    private long _buffered;
    private long _windowEpoch;
    private bool _remoteFin;
    private bool _inputCompleted;
    private bool _receiveCompleted;

    // Send direction (guarded by _sync).
    private long _sendWindow = YamuxOptions.DefaultStreamWindow;
    private TaskCompletionSource? _sendWindowWaiter;
    private TaskCompletionSource? _sendBlockedWaiter;
    private bool _sendBlocked;
    private bool _localFin;
    private bool _sendLoopStarted;
    private bool _sendLoopDone;

    // Lifecycle (guarded by _sync).
    private bool _holdsSynSlot;
    private bool _reset;
    private Exception? _resetException;
    private bool _removed;

    internal YamuxStream(YamuxSession session, uint id, bool outbound, YamuxOptions options)
    {
        _session = session;
        Id = id;
        IsOutbound = outbound;
        _holdsSynSlot = outbound;
        _maxReceiveWindow = options.MaxStreamWindowSize;
        _receiveWindowSize = options.InitialStreamWindowSize;
        _receiveWindow = YamuxOptions.DefaultStreamWindow;
        _windowEpoch = session.TimeProvider.GetTimestamp();

        // The receive pipe never pushes back on the session's reader: the window bounds what it holds. Its segments
        // are sized by the data (OnData), so a large frame lands in one piece and a stray byte does not hold 64 KiB.
        _receivePipe = new Pipe(new PipeOptions(pauseWriterThreshold: 0, resumeWriterThreshold: 0, useSynchronizationContext: false));
        _sendPipe = new Pipe(new PipeOptions(
            pauseWriterThreshold: options.StreamWriteBufferSize,
            resumeWriterThreshold: Math.Max(1, options.StreamWriteBufferSize / 2),
            minimumSegmentSize: SegmentSize,
            useSynchronizationContext: false));
        _input = new YamuxStreamReader(this, _receivePipe.Reader);
        _output = new YamuxStreamWriter(this, _sendPipe.Writer);
    }

    /// <summary>The stream id: odd when the client opened it, even when the server did.</summary>
    public uint Id { get; }

    /// <summary>Whether the local side opened the stream.</summary>
    public bool IsOutbound { get; }

    /// <summary>The bytes the peer sent, ending at its FIN.</summary>
    public PipeReader Input => _input;

    /// <summary>The bytes to send; complete it to send FIN.</summary>
    public PipeWriter Output => _output;

    /// <summary>Completes once the stream has left its session: both sides sent FIN (or the local side stopped
    /// reading), or it was reset, or the session ended.</summary>
    public Task Completion => _completion.Task;

    /// <summary>How many bytes the peer's window still lets this side send.</summary>
    internal long SendWindow
    {
        get
        {
            lock (_sync)
            {
                return _sendWindow;
            }
        }
    }

    /// <summary>How many more bytes the peer may send before it needs a window update.</summary>
    internal long ReceiveWindow
    {
        get
        {
            lock (_sync)
            {
                return _receiveWindow;
            }
        }
    }

    /// <summary>The current receive window size (grows with auto-tuning).</summary>
    internal long ReceiveWindowSize
    {
        get
        {
            lock (_sync)
            {
                return _receiveWindowSize;
            }
        }
    }

    /// <summary>Received bytes the application has not consumed yet.</summary>
    internal long BufferedReceiveBytes
    {
        get
        {
            lock (_sync)
            {
                return _buffered;
            }
        }
    }

    /// <summary>Resets the stream (RST): both directions fail at once, buffered data is dropped.</summary>
    public void Abort() => Reset(sendRst: true, static id => YamuxStreamResetException.Local(id));

    /// <summary>Completes both directions gracefully (FIN after buffered output) and releases the stream.
    /// Idempotent, and safe after <see cref="Abort"/>.</summary>
    public ValueTask DisposeAsync()
    {
        _sendPipe.Writer.Complete();
        _input.Complete();
        return ValueTask.CompletedTask;
    }

    /// <inheritdoc />
    public override string ToString() => $"yamux stream {Id}";

    /// <summary>Completes when the send loop next waits for the peer's window (or at once if it is waiting).</summary>
    internal Task WhenSendBlockedAsync()
    {
        lock (_sync)
        {
            if (_sendBlocked)
            {
                return Task.CompletedTask;
            }

            _sendBlockedWaiter ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            return _sendBlockedWaiter.Task;
        }
    }

    /// <summary>The window delta to announce with the SYN or ACK: whatever the window exceeds 256 KiB by.</summary>
    internal uint TakeOpeningWindowDelta()
    {
        lock (_sync)
        {
            long delta = _receiveWindowSize - YamuxOptions.DefaultStreamWindow;
            _receiveWindow += delta;
            return (uint)delta;
        }
    }

    /// <summary>Whether the stream was reset (locally, by the peer or by the end of the session).</summary>
    internal bool IsReset => ResetException is not null;

    /// <summary>Why the stream was reset, or <see langword="null"/> while it was not.</summary>
    internal Exception? ResetException
    {
        get
        {
            lock (_sync)
            {
                return _resetException;
            }
        }
    }

    /// <summary>Starts sending what the application writes. Called once the SYN or ACK is on the wire.</summary>
    internal void StartSending()
    {
        lock (_sync)
        {
            if (_sendLoopStarted)
            {
                return;
            }

            _sendLoopStarted = true;
        }

        _ = RunSendLoopAsync();
    }

    // ----- Called by the session's reader loop -----

    /// <summary>The peer acknowledged the stream.</summary>
    internal void OnAck()
    {
        lock (_sync)
        {
            ReleaseSynSlotLocked();
        }
    }

    /// <summary>A data frame of <paramref name="length"/> bytes arrived; its payload follows through <see cref="OnData"/>.</summary>
    /// <returns><see langword="false"/> when the frame exceeds the window granted to the peer.</returns>
    internal bool OnDataHeader(uint length)
    {
        lock (_sync)
        {
            if (length > _receiveWindow)
            {
                return false;
            }

            _receiveWindow -= length;
            return true;
        }
    }

    /// <summary>Payload bytes of the current data frame.</summary>
    internal void OnData(ReadOnlySequence<byte> chunk)
    {
        YamuxHeader? update = null;
        lock (_sync)
        {
            if (!_receiveCompleted)
            {
                PipeWriter writer = _receivePipe.Writer;
                long left = chunk.Length;
                foreach (ReadOnlyMemory<byte> segment in chunk)
                {
                    ReadOnlySpan<byte> source = segment.Span;
                    while (!source.IsEmpty)
                    {
                        Span<byte> destination = writer.GetSpan((int)Math.Min(left, SegmentSize));
                        int count = Math.Min(destination.Length, source.Length);
                        source[..count].CopyTo(destination);
                        writer.Advance(count);
                        source = source[count..];
                        left -= count;
                    }
                }

                // pauseWriterThreshold is 0, so the flush never waits and has completed on return.
                ValueTask<FlushResult> flush = writer.FlushAsync(CancellationToken.None);
                Debug.Assert(flush.IsCompleted, "The receive pipe never applies back-pressure.");
                _ = flush.Result;
                _buffered += chunk.Length;
            }
            else
            {
                // Nobody will read these bytes: drop them and grant their window back.
                update = CreateWindowUpdateLocked();
            }
        }

        if (update is { } header)
        {
            _session.EnqueueControl(header);
        }
    }

    /// <summary>A window update arrived.</summary>
    /// <returns><see langword="false"/> when it would push the window past 2^32 - 1.</returns>
    internal bool OnWindowUpdate(uint delta)
    {
        lock (_sync)
        {
            if (_sendWindow + delta > uint.MaxValue)
            {
                return false;
            }

            _sendWindow += delta;
            if (delta > 0)
            {
                WakeSenderLocked();
            }

            return true;
        }
    }

    /// <summary>The peer half-closed the stream (after the frame's payload, if any).</summary>
    internal void OnRemoteFin()
    {
        lock (_sync)
        {
            if (_remoteFin || _reset)
            {
                return;
            }

            _remoteFin = true;
            RemoveIfFinishedLocked();
            CompleteReceiveLocked(null);
        }
    }

    /// <summary>The peer reset the stream.</summary>
    internal void OnRemoteReset() => Reset(sendRst: false, static id => YamuxStreamResetException.ByPeer(id));

    /// <summary>
    /// The session ended; the stream fails unless it already finished. What it received before stays readable: the
    /// failure surfaces after it (a connection that ended at a relay's data limit, or in garbage after valid frames,
    /// loses nothing that arrived).
    /// </summary>
    internal void OnSessionClosed(Exception? cause) =>
        Reset(sendRst: false, id => YamuxStreamResetException.SessionEnded(id, cause), drainFirst: true);

    // ----- Called by the application through Input -----

    /// <summary>The application consumed <paramref name="count"/> bytes.</summary>
    internal void OnConsumed(long count)
    {
        YamuxHeader? update;
        lock (_sync)
        {
            _buffered -= count;
            update = CreateWindowUpdateLocked();
        }

        if (update is { } header)
        {
            _session.EnqueueControl(header);
        }
    }

    /// <summary>The application completed <see cref="Input"/>: it reads no more.</summary>
    internal void OnInputCompleted()
    {
        YamuxHeader? update;
        lock (_sync)
        {
            if (_inputCompleted)
            {
                return;
            }

            _inputCompleted = true;
            _buffered = 0;
            CompleteReceiveLocked(null);
            update = CreateWindowUpdateLocked();
            RemoveIfFinishedLocked();
        }

        if (update is { } header)
        {
            _session.EnqueueControl(header);
        }
    }

    // ----- Internals -----

    private void Reset(bool sendRst, Func<uint, Exception> createException, bool drainFirst = false)
    {
        bool cancelSendLoop;
        lock (_sync)
        {
            if (_reset || _removed)
            {
                return;
            }

            _reset = true;
            _resetException = createException(Id);
            if (drainFirst)
            {
                // A stream whose peer already finished (FIN) ended cleanly: its reader keeps that clean end.
                if (!_receiveCompleted)
                {
                    _input.Completion.Fail(_resetException);
                }

                CompleteReceiveLocked(null);
            }
            else
            {
                CompleteReceiveLocked(_resetException);
            }

            WakeSenderLocked();
            if (_sendLoopStarted)
            {
                cancelSendLoop = !_sendLoopDone;
            }
            else
            {
                // No send loop will ever read: fail the application's writes directly.
                _sendLoopStarted = true;
                _sendLoopDone = true;
                _sendPipe.Reader.Complete(_resetException);
                cancelSendLoop = false;
            }

            RemoveIfFinishedLocked();
        }

        if (cancelSendLoop)
        {
            // Wakes the loop's pending read, or makes its next read return at once.
            _sendPipe.Reader.CancelPendingRead();
        }

        if (sendRst)
        {
            _session.EnqueueControl(new YamuxHeader(YamuxFrameType.WindowUpdate, YamuxFlags.Rst, Id, 0));
        }
    }

    private void CompleteReceiveLocked(Exception? exception)
    {
        if (_receiveCompleted)
        {
            return;
        }

        _receiveCompleted = true;
        _receivePipe.Writer.Complete(exception);
    }

    private void WakeSenderLocked()
    {
        _sendWindowWaiter?.TrySetResult();
        _sendWindowWaiter = null;
    }

    private void ReleaseSynSlotLocked()
    {
        if (_holdsSynSlot)
        {
            _holdsSynSlot = false;
            _session.ReleaseSynSlot();
        }
    }

    /// <summary>
    /// Tops the peer's credit back up to the window size once at least half of it can be granted, growing the
    /// window (up to the maximum) when the last top-up was less than four round trips ago (go-yamux auto-tuning).
    /// </summary>
    private YamuxHeader? CreateWindowUpdateLocked()
    {
        if (_remoteFin || _reset)
        {
            return null;
        }

        long delta = _receiveWindowSize - _buffered - _receiveWindow;
        if (delta < _receiveWindowSize / 2)
        {
            return null;
        }

        TimeProvider time = _session.TimeProvider;
        long now = time.GetTimestamp();
        if (_session.RoundTripTime is { } rtt && rtt > TimeSpan.Zero
            && _receiveWindowSize < _maxReceiveWindow
            && time.GetElapsedTime(_windowEpoch, now) < rtt * 4)
        {
            long grown = Math.Min(_receiveWindowSize * 2, _maxReceiveWindow);
            delta += grown - _receiveWindowSize;
            _receiveWindowSize = grown;
        }

        _windowEpoch = now;
        _receiveWindow += delta;
        return new YamuxHeader(YamuxFrameType.WindowUpdate, YamuxFlags.None, Id, (uint)delta);
    }

    private void RemoveIfFinishedLocked()
    {
        if (_removed)
        {
            return;
        }

        if (_reset || (_localFin && (_remoteFin || _inputCompleted)))
        {
            _removed = true;
            ReleaseSynSlotLocked();
            _session.RemoveStream(this);
            _completion.TrySetResult();
        }
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<long> WaitForSendWindowAsync()
    {
        while (true)
        {
            Task wait;
            lock (_sync)
            {
                if (_reset)
                {
                    throw _resetException!;
                }

                if (_sendWindow > 0)
                {
                    _sendBlocked = false;
                    return _sendWindow;
                }

                _sendBlocked = true;
                _sendBlockedWaiter?.TrySetResult();
                _sendBlockedWaiter = null;
                _sendWindowWaiter ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                wait = _sendWindowWaiter.Task;
            }

            await wait.ConfigureAwait(false);
        }
    }

    private async Task RunSendLoopAsync()
    {
        PipeReader reader = _sendPipe.Reader;
        Exception? failure = null;
        try
        {
            while (true)
            {
                ReadResult result;
                try
                {
                    result = await reader.ReadAsync().ConfigureAwait(false);
                }
                catch (Exception e) when (ResetException is null)
                {
                    // The application completed Output with an error: that is an abort.
                    failure = e;
                    Abort();
                    break;
                }

                if (ResetException is { } reset)
                {
                    failure = reset;
                    break;
                }

                ReadOnlySequence<byte> buffer = result.Buffer;
                if (!buffer.IsEmpty)
                {
                    long window = await WaitForSendWindowAsync().ConfigureAwait(false);
                    int length = (int)Math.Min(Math.Min(buffer.Length, window), _session.MaxFramePayloadSize);
                    ReadOnlySequence<byte> payload = buffer.Slice(0, length);
                    lock (_sync)
                    {
                        _sendWindow -= length;
                    }

                    await _session.SendFrameAsync(new YamuxHeader(YamuxFrameType.Data, YamuxFlags.None, Id, (uint)length), payload).ConfigureAwait(false);
                    reader.AdvanceTo(payload.End);
                    continue;
                }

                if (result.IsCompleted)
                {
                    lock (_sync)
                    {
                        if (_reset)
                        {
                            failure = _resetException;
                            break;
                        }

                        _localFin = true;
                    }

                    await _session.SendFrameAsync(new YamuxHeader(YamuxFrameType.WindowUpdate, YamuxFlags.Fin, Id, 0), default).ConfigureAwait(false);
                    break;
                }

                reader.AdvanceTo(buffer.End);
            }
        }
        catch (Exception e)
        {
            failure = ResetException ?? e;
        }

        lock (_sync)
        {
            _sendLoopDone = true;
            reader.Complete(failure);
            RemoveIfFinishedLocked();
        }
    }
}
