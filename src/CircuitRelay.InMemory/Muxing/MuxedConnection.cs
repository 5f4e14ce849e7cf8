using CircuitRelay.Internal;
using System.Buffers;
using System.Buffers.Binary;
using System.IO.Pipelines;
using System.Text;
using System.Threading.Channels;
using CircuitRelay.Abstractions;

namespace CircuitRelay.InMemory.Muxing;

/// <summary>
/// A muxed connection of an <see cref="InMemoryHost"/> over a raw duplex byte pipe, in
/// <see cref="MuxFrame"/> frames. Each side first sends HELLO with its peer id; a side whose remote
/// turns out not to be the expected peer closes the connection. The dialer's stream ids are odd,
/// the listener's even.
/// </summary>
/// <remarks>
/// <para>One reader loop owns <c>raw.Input</c> and dispatches frames without ever waiting on a stream
/// (per-stream credit keeps receive buffers bounded); one writer loop owns <c>raw.Output</c> and
/// writes the send queue in order. Control frames are queued, never written inline, so two
/// connected reader loops can never block each other.</para>
/// <para>The connection ends when the raw pipe ends or fails, on a protocol violation, or when closed
/// locally. Then every stream is reset, the host raises ConnectionClosed once, both sides of the raw
/// pipe are completed (with the error, if any) and the raw pipe is disposed if it is disposable.</para>
/// </remarks>
internal sealed partial class MuxedConnection
{
    private readonly InMemoryHost _host;
    private readonly IDuplexPipe _raw;
    private readonly bool _isDialer;
    private readonly Lock _sync = new();
    private readonly Dictionary<uint, MuxedStream> _streams = [];
    private readonly Channel<OutboundFrame> _frames = Channel.CreateUnbounded<OutboundFrame>(
        new UnboundedChannelOptions { SingleReader = true, SingleWriter = false, AllowSynchronousContinuations = false });

    private readonly CancellationTokenSource _closing = new();
    private readonly TaskCompletionSource _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _closed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskTracker _pumps = new();

    private uint _nextStreamId;
    private uint _lastRemoteStreamId;
    private bool _isClosed;
    private bool _handshakeDone;
    private Exception? _closeError;

    /// <summary>Creates a connection; call <see cref="Start"/> to run it.</summary>
    /// <param name="host">The local host.</param>
    /// <param name="raw">The raw byte pipe; the connection owns it from <see cref="Start"/> on.</param>
    /// <param name="info">The connection's description (its remote peer is checked in the handshake).</param>
    public MuxedConnection(InMemoryHost host, IDuplexPipe raw, ConnectionInfo info)
    {
        _host = host;
        _raw = raw;
        Info = info;
        _isDialer = info.Direction == ConnectionDirection.Outbound;
        _nextStreamId = _isDialer ? 1u : 2u;
    }

    /// <summary>The connection's description, shared by all its streams.</summary>
    public ConnectionInfo Info { get; }

    /// <summary>Completes when the connection's loops and pumps have all ended.</summary>
    public Task Completion => _completion.Task;

    /// <summary>
    /// Registers the connection with the host (which raises ConnectionOpened), sends HELLO and starts
    /// the reader and writer loops. The remote's HELLO is checked when it arrives; the connection is
    /// usable at once (frames queue until the remote reads them).
    /// </summary>
    /// <exception cref="ObjectDisposedException">The host is disposed (the raw pipe is then completed).</exception>
    public void Start()
    {
        byte[] self = _host.PeerId.ToByteArray();
        byte[] hello = ArrayPool<byte>.Shared.Rent(self.Length);
        self.CopyTo(hello, 0);
        TrySend(new OutboundFrame(0, FrameType.Hello, hello, self.Length));
        if (!_host.TryAddConnection(this))
        {
            Abort(null);
            _raw.Input.Complete();
            _raw.Output.Complete();
            while (_frames.Reader.TryRead(out OutboundFrame dropped))
            {
                dropped.Release();
            }

            _closing.Dispose();
            _completion.TrySetResult();
            throw new ObjectDisposedException(nameof(InMemoryHost));
        }

        // On the thread pool: bytes already waiting in the raw pipe are not dispatched on the caller's stack.
        _ = Task.Run(RunAsync);
    }

    /// <summary>Closes the connection (streams are reset) and waits until it has ended.</summary>
    public Task CloseAsync()
    {
        Abort(null);
        return _completion.Task;
    }

    /// <summary>Opens a stream and waits for the remote to accept <paramref name="protocol"/>.</summary>
    /// <exception cref="IOException">The connection closed or the remote refused the protocol.</exception>
    public async ValueTask<MuxedStream> OpenStreamAsync(string protocol, CancellationToken cancellationToken)
    {
        byte[] encoded = System.Text.Encoding.UTF8.GetBytes(protocol);
        MuxedStream stream;
        lock (_sync)
        {
            if (_isClosed)
            {
                throw new IOException($"The connection {Info.Id} is closed.");
            }

            if (_nextStreamId > uint.MaxValue - 2)
            {
                throw new IOException($"The connection {Info.Id} has run out of stream ids.");
            }

            stream = new MuxedStream(this, _nextStreamId, protocol, outbound: true);
            _nextStreamId += 2;
            _streams.Add(stream.Id, stream);
        }

        byte[] payload = ArrayPool<byte>.Shared.Rent(encoded.Length);
        encoded.CopyTo(payload, 0);
        if (!TrySend(new OutboundFrame(stream.Id, FrameType.Open, payload, encoded.Length)))
        {
            ArrayPool<byte>.Shared.Return(payload);
        }

        try
        {
            await stream.WaitOpenedAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            stream.Abort();
            throw;
        }

        return stream;
    }

    /// <summary>Queues a frame; returns <see langword="false"/> (the caller keeps the payload) once closed.</summary>
    internal bool TrySend(OutboundFrame frame) => _frames.Writer.TryWrite(frame);

    /// <summary>Queues a RST frame.</summary>
    internal void SendReset(uint streamId, ResetReason reason)
    {
        byte[] payload = ArrayPool<byte>.Shared.Rent(1);
        payload[0] = (byte)reason;
        if (!TrySend(new OutboundFrame(streamId, FrameType.Reset, payload, 1)))
        {
            ArrayPool<byte>.Shared.Return(payload);
        }
    }

    /// <summary>Queues a WINDOW frame granting <paramref name="increment"/> more bytes.</summary>
    internal void SendWindowUpdate(uint streamId, int increment)
    {
        byte[] payload = ArrayPool<byte>.Shared.Rent(4);
        BinaryPrimitives.WriteUInt32BigEndian(payload, (uint)increment);
        if (!TrySend(new OutboundFrame(streamId, FrameType.Window, payload, 4)))
        {
            ArrayPool<byte>.Shared.Return(payload);
        }
    }

    /// <summary>Forgets a stream that is finished (FIN both ways) or reset.</summary>
    internal void RemoveStream(MuxedStream stream)
    {
        lock (_sync)
        {
            if (_streams.TryGetValue(stream.Id, out MuxedStream? current) && ReferenceEquals(current, stream))
            {
                _streams.Remove(stream.Id);
            }
        }
    }

    /// <summary>Starts the send pump of a stream that just opened.</summary>
    internal void StartPump(MuxedStream stream) => _pumps.TryTrack(stream.RunPumpAsync());

    /// <summary>
    /// Ends the connection once: resets every stream, stops both loops and tells the host.
    /// <paramref name="error"/> is <see langword="null"/> for a graceful close.
    /// </summary>
    internal void Abort(Exception? error)
    {
        MuxedStream[] streams;
        lock (_sync)
        {
            if (_isClosed)
            {
                return;
            }

            _isClosed = true;
            _closeError = error;
            streams = [.. _streams.Values];
            _streams.Clear();
        }

        var closed = new IOException($"The connection {Info.Id} was closed.", error);
        _frames.Writer.TryComplete();
        _closing.Cancel();
        foreach (MuxedStream stream in streams)
        {
            stream.OnConnectionClosed(closed);
        }

        _host.OnConnectionClosed(this);
        _closed.TrySetResult();
    }

    private async Task RunAsync()
    {
        try
        {
            Task reader = ReadLoopAsync();
            Task writer = WriteLoopAsync();
            await Task.WhenAll(reader, writer).ConfigureAwait(false);
            await _closed.Task.ConfigureAwait(false);
            await _pumps.WhenAllAsync().ConfigureAwait(false);
            _closing.Dispose();
            if (_raw is IAsyncDisposable disposable)
            {
                try
                {
                    await disposable.DisposeAsync().ConfigureAwait(false);
                }
                catch (Exception)
                {
                    // The raw pipe's owner handed it over; a failure to release it is not ours to report.
                }
            }
        }
        finally
        {
            _host.OnConnectionFinished(this);
            _completion.TrySetResult();
        }
    }

    private bool IsLocalStreamId(uint id) => (id % 2 == 1) == _isDialer;
}
