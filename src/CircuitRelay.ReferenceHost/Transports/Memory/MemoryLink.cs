using System.IO.Pipelines;

namespace CircuitRelay.ReferenceHost.Transports.Memory;

/// <summary>
/// The wire between two <see cref="MemoryConnection"/>s: two pipes crosswise, each with real backpressure (a writer
/// waits once <see cref="PauseWriterThreshold"/> bytes are unread and goes on below <see cref="ResumeWriterThreshold"/>),
/// and a reset shared by both ends.
/// </summary>
/// <remarks>
/// A reset cannot complete the ends' pipes (they belong to the application, which may be using them on another
/// thread). It sets a flag and cancels the pending read and flush of both pipes; the wrappers
/// (<see cref="ResettablePipeReader"/>, <see cref="ResettablePipeWriter"/>) turn a cancelled or later operation
/// into an <see cref="IOException"/>. A cancel with nothing pending applies to the next operation, so there is no
/// window in which a reset is missed.
/// </remarks>
internal sealed class MemoryLink
{
    /// <summary>Unread bytes at which a writer's flush waits.</summary>
    internal const int PauseWriterThreshold = 1024 * 1024;

    /// <summary>Unread bytes below which a waiting flush completes.</summary>
    internal const int ResumeWriterThreshold = 512 * 1024;

    private static readonly PipeOptions Options = new(
        pool: null,
        readerScheduler: PipeScheduler.ThreadPool,
        writerScheduler: PipeScheduler.ThreadPool,
        pauseWriterThreshold: PauseWriterThreshold,
        resumeWriterThreshold: ResumeWriterThreshold,
        minimumSegmentSize: 16 * 1024,
        useSynchronizationContext: false);

    private readonly Pipe _forward = new(Options);
    private readonly Pipe _backward = new(Options);
    private readonly List<Action> _onReset = new(2);
    private int _reset;

    /// <summary>Whether the link was reset.</summary>
    public bool IsReset => Volatile.Read(ref _reset) != 0;

    /// <summary>The dialer's end: reads what the acceptor writes, writes what the acceptor reads.</summary>
    public IDuplexPipe CreateDialerEnd() => new End(new ResettablePipeReader(_backward.Reader, this), new ResettablePipeWriter(_forward.Writer, this));

    /// <summary>The acceptor's end.</summary>
    public IDuplexPipe CreateAcceptorEnd() => new End(new ResettablePipeReader(_forward.Reader, this), new ResettablePipeWriter(_backward.Writer, this));

    /// <summary>Runs <paramref name="callback"/> once the link is reset (at once if it already is).</summary>
    public void OnReset(Action callback)
    {
        lock (_onReset)
        {
            if (!IsReset)
            {
                _onReset.Add(callback);
                return;
            }
        }

        callback();
    }

    /// <summary>Resets both directions: pending and later reads and flushes on both ends throw. Idempotent.</summary>
    public void Reset()
    {
        Action[] callbacks;
        lock (_onReset)
        {
            if (Interlocked.Exchange(ref _reset, 1) != 0)
            {
                return;
            }

            callbacks = [.. _onReset];
            _onReset.Clear();
        }

        foreach (Pipe pipe in (ReadOnlySpan<Pipe>)[_forward, _backward])
        {
            pipe.Reader.CancelPendingRead();
            pipe.Writer.CancelPendingFlush();
        }

        foreach (Action callback in callbacks)
        {
            callback();
        }
    }

    /// <summary>The exception a reset connection's operations throw.</summary>
    public static IOException ResetException() => new("The connection was reset.");

    private sealed class End(PipeReader input, PipeWriter output) : IDuplexPipe
    {
        public PipeReader Input { get; } = input;

        public PipeWriter Output { get; } = output;
    }
}
