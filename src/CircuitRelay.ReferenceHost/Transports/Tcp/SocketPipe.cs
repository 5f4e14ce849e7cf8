using System.Buffers;
using System.IO.Pipelines;
using System.Net.Sockets;

namespace CircuitRelay.ReferenceHost.Transports.Tcp;

/// <summary>
/// A connected TCP socket as a duplex pipe: completing <see cref="Output"/> sends FIN after every queued
/// byte, the remote's FIN completes <see cref="Input"/>, <see cref="Abort"/> closes the socket at once.
/// Both directions have bounded buffers, so a peer that does not read stalls our writes instead of growing memory.
/// </summary>
internal sealed class SocketPipe : IDuplexPipe, IAsyncDisposable
{
    /// <summary>
    /// Size of a receive buffer segment: bulk data arrives up to a quarter MiB per receive, so fewer Noise frames
    /// (64 KiB each) straddle two segments and need a gathering copy.
    /// </summary>
    internal const int SegmentSize = 256 * 1024;

    /// <summary>
    /// A receive goes into what is left of the current segment while at least this much is free. A new segment is
    /// taken only when less is left, so a peer that trickles bytes one by one costs its bytes, not a segment each.
    /// </summary>
    internal const int MinReceiveSize = 4 * 1024;

    private static readonly PipeOptions IncomingOptions = CreateOptions(pool: null, SegmentSize);
    private static readonly PipeOptions OutgoingOptions = CreateOptions(pool: null, 64 * 1024);

    private readonly Socket _socket;
    private readonly Pipe _incoming;
    private readonly Pipe _outgoing;
    private readonly Task _receive;
    private readonly Task _send;
    private int _aborted;

    public SocketPipe(Socket socket)
        : this(socket, pool: null)
    {
    }

    /// <summary>Creates the pipe with buffers from <paramref name="pool"/> (tests count what it hands out).</summary>
    internal SocketPipe(Socket socket, MemoryPool<byte>? pool)
    {
        _incoming = new Pipe(pool is null ? IncomingOptions : CreateOptions(pool, IncomingOptions.MinimumSegmentSize));
        _outgoing = new Pipe(pool is null ? OutgoingOptions : CreateOptions(pool, OutgoingOptions.MinimumSegmentSize));
        _socket = socket;
        _socket.NoDelay = true;
        _receive = ReceiveAsync();
        _send = SendAsync();
    }

    public PipeReader Input => _incoming.Reader;

    private static PipeOptions CreateOptions(MemoryPool<byte>? pool, int segmentSize)
        => new(pool, PipeScheduler.Inline, PipeScheduler.Inline, pauseWriterThreshold: 1024 * 1024, resumeWriterThreshold: 512 * 1024, minimumSegmentSize: segmentSize, useSynchronizationContext: false);

    public PipeWriter Output => _outgoing.Writer;

    public void Abort()
    {
        if (Interlocked.Exchange(ref _aborted, 1) != 0)
        {
            return;
        }

        try
        {
            _socket.LingerState = new LingerOption(true, 0); // RST
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            // Already closed.
        }

        _socket.Dispose();
        _incoming.Writer.Complete(new IOException("The connection was aborted."));
        _outgoing.Reader.Complete();
    }

    public async ValueTask DisposeAsync()
    {
        // Graceful: flush what is queued, FIN, then close once the remote is done or the send side ended.
        await _outgoing.Writer.CompleteAsync().ConfigureAwait(false);
        await _send.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        _socket.Dispose();
        await _receive.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
    }

    private async Task ReceiveAsync()
    {
        await Task.Yield();
        PipeWriter writer = _incoming.Writer;
        try
        {
            bool drained = true;
            while (true)
            {
                if (drained)
                {
                    // Wait for data before taking a buffer, so an idle connection holds none.
                    await _socket.ReceiveAsync(Memory<byte>.Empty, SocketFlags.None).ConfigureAwait(false);
                }

                Memory<byte> memory = writer.GetMemory(MinReceiveSize);
                int read = await _socket.ReceiveAsync(memory, SocketFlags.None).ConfigureAwait(false);
                drained = read < memory.Length;
                if (read == 0)
                {
                    break;
                }

                writer.Advance(read);
                FlushResult result = await writer.FlushAsync().ConfigureAwait(false);
                if (result.IsCompleted)
                {
                    break;
                }
            }

            await writer.CompleteAsync().ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException or InvalidOperationException)
        {
            await writer.CompleteAsync(new IOException("The connection was reset: " + ex.Message, ex)).ConfigureAwait(false);
        }
    }

    private async Task SendAsync()
    {
        await Task.Yield();
        PipeReader reader = _outgoing.Reader;
        try
        {
            while (true)
            {
                ReadResult result = await reader.ReadAsync().ConfigureAwait(false);
                foreach (ReadOnlyMemory<byte> segment in result.Buffer)
                {
                    int sent = 0;
                    while (sent < segment.Length)
                    {
                        sent += await _socket.SendAsync(segment[sent..], SocketFlags.None).ConfigureAwait(false);
                    }
                }

                reader.AdvanceTo(result.Buffer.End);
                if (result.IsCompleted || result.IsCanceled)
                {
                    break;
                }
            }

            _socket.Shutdown(SocketShutdown.Send);
            await reader.CompleteAsync().ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException or InvalidOperationException)
        {
            await reader.CompleteAsync(ex).ConfigureAwait(false);
            Abort();
        }
    }
}
