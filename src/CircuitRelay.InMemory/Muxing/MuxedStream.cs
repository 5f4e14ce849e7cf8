using System.Buffers;
using System.Buffers.Binary;
using System.Diagnostics;
using System.IO.Pipelines;
using CircuitRelay.Abstractions;

namespace CircuitRelay.InMemory.Muxing;

/// <summary>
/// One stream of a <see cref="MuxedConnection"/>.
/// </summary>
/// <remarks>
/// <para>Receive path: the connection's reader loop writes DATA payloads into <c>_inbound</c>, which
/// never pauses; memory stays bounded because the remote may only send as many bytes as this side
/// granted (<see cref="ReceiveWindow"/>, returned in WINDOW frames as the application consumes).</para>
/// <para>Send path: the application writes into <c>_outbound</c> (paused at 1 MiB); a per-stream pump
/// cuts what it reads into DATA frames of at most 64 KiB, within the send credit, and sends FIN once
/// the application completes <see cref="Output"/>.</para>
/// <para>A stream that is not read stalls only its own sender, never the connection.</para>
/// </remarks>
internal sealed class MuxedStream : ILibp2pStream
{
    /// <summary>Bytes a side may send before the receiver returns credit (also the initial credit).</summary>
    public const int ReceiveWindow = 1024 * 1024;

    private const int WindowUpdateThreshold = ReceiveWindow / 4;

    private static readonly PipeOptions InboundOptions = new(
        pauseWriterThreshold: 0,
        resumeWriterThreshold: 0,
        useSynchronizationContext: false);

    private static readonly PipeOptions OutboundOptions = new(
        pauseWriterThreshold: ReceiveWindow,
        resumeWriterThreshold: ReceiveWindow / 2,
        useSynchronizationContext: false);

    private readonly MuxedConnection _connection;
    private readonly Pipe _inbound = new(InboundOptions);
    private readonly Pipe _outbound = new(OutboundOptions);
    private readonly StreamInput _input;
    private readonly StreamOutput _output;
    private readonly Lock _sync = new();
    private readonly TaskCompletionSource? _opened;

    private bool _isOpen;
    private bool _reset;
    private Exception? _resetException;
    private bool _remoteFin;
    private bool _localFin;
    private bool _inputCompleted;
    private long _sendCredit = ReceiveWindow;
    private int _receiveRemaining = ReceiveWindow;
    private int _unacknowledged;
    private TaskCompletionSource? _creditWaiter;
    private int _disposed;

    /// <summary>Creates a stream. An outbound stream waits for ACK; an inbound one is open at once.</summary>
    public MuxedStream(MuxedConnection connection, uint id, string protocol, bool outbound)
    {
        _connection = connection;
        Id = id;
        Protocol = protocol;
        _input = new StreamInput(_inbound.Reader, this);
        _output = new StreamOutput(_outbound.Writer, this);
        if (outbound)
        {
            _opened = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }
        else
        {
            _isOpen = true;
        }
    }

    /// <summary>The stream id on the connection.</summary>
    public uint Id { get; }

    /// <inheritdoc />
    public string Protocol { get; }

    /// <inheritdoc />
    public ConnectionInfo Connection => _connection.Info;

    /// <inheritdoc />
    public PipeReader Input => _input;

    /// <inheritdoc />
    public PipeWriter Output => _output;

    /// <inheritdoc />
    public override string ToString() => $"{Connection.Id}#{Id} {Protocol}";

    /// <inheritdoc />
    public void Abort() => Reset(new IOException("The stream was aborted."), notifyRemote: true);

    /// <inheritdoc />
    public ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            // Completing Output lets the pump send what is buffered, then FIN (nothing after a reset).
            _output.Complete();
            _input.Complete();
        }

        return ValueTask.CompletedTask;
    }

    /// <summary>Completes when the remote accepted the stream (outbound streams only).</summary>
    internal Task WaitOpenedAsync(CancellationToken cancellationToken) =>
        _opened is null ? Task.CompletedTask : _opened.Task.WaitAsync(cancellationToken);

    /// <summary>Throws the reset's exception once the stream has been reset.</summary>
    internal void ThrowIfReset()
    {
        lock (_sync)
        {
            if (_reset)
            {
                throw new IOException(_resetException!.Message, _resetException);
            }
        }
    }

    /// <summary>Reader loop: the remote accepted the stream.</summary>
    internal void OnAck()
    {
        lock (_sync)
        {
            if (_reset || _isOpen)
            {
                return;
            }

            _isOpen = true;
        }

        _connection.StartPump(this);
        _opened!.TrySetResult();
    }

    /// <summary>Reader loop: a DATA frame arrived.</summary>
    /// <exception cref="InvalidDataException">The remote overran the receive window.</exception>
    internal void OnData(ReadOnlySequence<byte> payload)
    {
        int length = (int)payload.Length;
        int credit = 0;
        lock (_sync)
        {
            if (_reset || _remoteFin)
            {
                return;
            }

            if (!_isOpen)
            {
                throw new InvalidDataException($"DATA on stream {Id} before it was accepted.");
            }

            if (length > _receiveRemaining)
            {
                throw new InvalidDataException($"The peer overran the receive window of stream {Id}.");
            }

            _receiveRemaining -= length;
            if (_inputCompleted)
            {
                // Nobody reads any more: drop the bytes and give the credit straight back.
                credit = length;
                _receiveRemaining += length;
            }
            else
            {
                foreach (ReadOnlyMemory<byte> segment in payload)
                {
                    _inbound.Writer.Write(segment.Span);
                }

                // The inbound pipe has no pause threshold, so the flush completes synchronously.
                ValueTask<FlushResult> flush = _inbound.Writer.FlushAsync(CancellationToken.None);
                Debug.Assert(flush.IsCompleted, "The inbound pipe never pauses.");
                _ = flush.GetAwaiter().GetResult();
            }
        }

        if (credit > 0)
        {
            _connection.SendWindowUpdate(Id, credit);
        }
    }

    /// <summary>Reader loop: the remote half-closed the stream.</summary>
    internal void OnRemoteFin()
    {
        bool finished;
        lock (_sync)
        {
            if (_reset || _remoteFin)
            {
                return;
            }

            _remoteFin = true;
            _inbound.Writer.Complete();
            finished = _localFin;
        }

        if (finished)
        {
            _connection.RemoveStream(this);
        }
    }

    /// <summary>Reader loop: the remote granted send credit.</summary>
    /// <exception cref="InvalidDataException">The credit overflows.</exception>
    internal void OnWindowUpdate(uint increment)
    {
        TaskCompletionSource? waiter;
        lock (_sync)
        {
            if (_reset)
            {
                return;
            }

            _sendCredit += increment;
            if (_sendCredit > int.MaxValue)
            {
                throw new InvalidDataException($"The peer granted too much credit on stream {Id}.");
            }

            waiter = _creditWaiter;
            _creditWaiter = null;
        }

        waiter?.TrySetResult();
    }

    /// <summary>Reader loop: the remote reset the stream (or refused to open it).</summary>
    internal void OnRemoteReset(ResetReason reason)
    {
        bool opening;
        lock (_sync)
        {
            opening = !_isOpen;
        }

        Exception exception = opening
            ? reason switch
            {
                ResetReason.ProtocolNotSupported => new IOException($"The peer does not support protocol '{Protocol}'."),
                ResetReason.LimitedConnection => new IOException($"The peer does not accept protocol '{Protocol}' on a limited connection."),
                _ => new IOException($"The peer refused the stream for protocol '{Protocol}'."),
            }
            : new IOException("The stream was reset by the remote peer.");
        Reset(exception, notifyRemote: false);
    }

    /// <summary>The connection closed: the stream fails at once.</summary>
    internal void OnConnectionClosed(Exception exception) => Reset(exception, notifyRemote: false);

    /// <summary>The application consumed <paramref name="bytes"/> bytes: return credit in batches.</summary>
    internal void OnConsumed(long bytes)
    {
        int update = 0;
        lock (_sync)
        {
            if (_reset || _remoteFin || _inputCompleted)
            {
                return;
            }

            _unacknowledged += (int)bytes;
            if (_unacknowledged >= WindowUpdateThreshold)
            {
                update = _unacknowledged;
                _receiveRemaining += update;
                _unacknowledged = 0;
            }
        }

        if (update > 0)
        {
            _connection.SendWindowUpdate(Id, update);
        }
    }

    /// <summary>The application stopped reading: from now on incoming data is dropped.</summary>
    internal void OnInputCompleted()
    {
        int update = 0;
        lock (_sync)
        {
            if (_inputCompleted)
            {
                return;
            }

            _inputCompleted = true;
            if (!_reset && !_remoteFin)
            {
                // Give back all credit held by buffered or unacknowledged bytes so the sender never stalls.
                update = ReceiveWindow - _receiveRemaining;
                _receiveRemaining = ReceiveWindow;
                _unacknowledged = 0;
            }
        }

        if (update > 0)
        {
            _connection.SendWindowUpdate(Id, update);
        }
    }

    /// <summary>
    /// The send pump: moves what the application writes into DATA frames within the send credit, then
    /// FIN. It ends on FIN, on reset, or when the application completes Output with an exception (reset).
    /// </summary>
    internal async Task RunPumpAsync()
    {
        PipeReader reader = _outbound.Reader;
        Exception? completion = null;
        try
        {
            while (true)
            {
                ReadResult result;
                try
                {
                    result = await reader.ReadAsync(CancellationToken.None).ConfigureAwait(false);
                }
                catch (Exception exception)
                {
                    // The application completed Output with an exception: that is an abort.
                    Reset(new IOException("The stream was aborted.", exception), notifyRemote: true);
                    completion = ResetException();
                    return;
                }

                ReadOnlySequence<byte> buffer = result.Buffer;
                while (!buffer.IsEmpty)
                {
                    int credit = await WaitForCreditAsync().ConfigureAwait(false);
                    if (credit == 0)
                    {
                        completion = ResetException();
                        return;
                    }

                    int length = (int)Math.Min(Math.Min(buffer.Length, credit), MuxFrame.MaxPayload);
                    byte[] payload = ArrayPool<byte>.Shared.Rent(length);
                    buffer.Slice(0, length).CopyTo(payload);
                    if (!TrySendData(payload, length))
                    {
                        ArrayPool<byte>.Shared.Return(payload);
                        completion = ResetException();
                        return;
                    }

                    buffer = buffer.Slice(length);
                }

                reader.AdvanceTo(buffer.End);
                if (result.IsCompleted)
                {
                    SendFin();
                    return;
                }

                if (result.IsCanceled && ResetException() is { } reset)
                {
                    completion = reset;
                    return;
                }
            }
        }
        finally
        {
            reader.Complete(completion);
        }
    }

    private Exception? ResetException()
    {
        lock (_sync)
        {
            return _resetException;
        }
    }

    /// <summary>Waits for send credit; returns 0 once the stream is reset.</summary>
    private async ValueTask<int> WaitForCreditAsync()
    {
        while (true)
        {
            Task wait;
            lock (_sync)
            {
                if (_reset)
                {
                    return 0;
                }

                if (_sendCredit > 0)
                {
                    return (int)_sendCredit;
                }

                _creditWaiter ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                wait = _creditWaiter.Task;
            }

            await wait.ConfigureAwait(false);
        }
    }

    private bool TrySendData(byte[] payload, int length)
    {
        lock (_sync)
        {
            // Under the lock so that no DATA is queued after the RST of a concurrent Abort.
            if (_reset || !_connection.TrySend(new OutboundFrame(Id, FrameType.Data, payload, length)))
            {
                return false;
            }

            _sendCredit -= length;
            return true;
        }
    }

    private void SendFin()
    {
        bool finished;
        lock (_sync)
        {
            if (_reset)
            {
                return;
            }

            _localFin = true;
            _connection.TrySend(new OutboundFrame(Id, FrameType.Fin, null, 0));
            finished = _remoteFin;
        }

        if (finished)
        {
            _connection.RemoveStream(this);
        }
    }

    private void Reset(Exception exception, bool notifyRemote)
    {
        TaskCompletionSource? waiter;
        bool sendReset;
        lock (_sync)
        {
            if (_reset)
            {
                return;
            }

            sendReset = notifyRemote && !(_localFin && _remoteFin);
            _reset = true;
            _resetException = exception;
            if (!_remoteFin)
            {
                // Local reads fail at once; buffered data is dropped.
                _inbound.Writer.Complete(exception);
            }

            waiter = _creditWaiter;
            _creditWaiter = null;
        }

        if (sendReset)
        {
            _connection.SendReset(Id, ResetReason.Reset);
        }

        _connection.RemoveStream(this);
        waiter?.TrySetResult();

        // Wake the pump if it waits for application data; it sees the reset and completes the send pipe.
        _outbound.Reader.CancelPendingRead();
        if (_opened is not null && _opened.TrySetException(exception))
        {
            // Observed here: an open cancelled by its caller leaves nobody awaiting this task.
            _ = _opened.Task.Exception;
        }
    }
}
