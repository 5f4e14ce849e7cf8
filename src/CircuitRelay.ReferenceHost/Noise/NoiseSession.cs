using System.IO.Pipelines;
using CircuitRelay.Crypto;
using CircuitRelay.ReferenceHost.Pipes;

namespace CircuitRelay.ReferenceHost.Noise;

/// <summary>
/// A Noise secure channel over a raw connection, created by <see cref="NoiseHandshake"/>. The
/// application reads plaintext from <see cref="Input"/> and writes plaintext to <see cref="Output"/>;
/// two background pumps decrypt frames from the raw input and encrypt frames to the raw output.
/// </summary>
/// <remarks>
/// <para>
/// Framing: each transport message is a 2-byte big-endian length and at most 65535 bytes of ciphertext,
/// so at most 65519 bytes of plaintext; larger writes are split. Transport messages use an empty AD.
/// </para>
/// <para>
/// Ownership and closing:
/// <list type="bullet">
/// <item>The session owns the raw connection: it completes the raw input and output when its pumps end.</item>
/// <item>The application owns <see cref="Input"/>'s reader and <see cref="Output"/>'s writer.</item>
/// <item>Completing <see cref="Output"/> flushes what was written, then completes the raw output
/// (half-close). Reading goes on.</item>
/// <item>The end of the raw input completes <see cref="Input"/> once the data before it has been read.
/// Writing goes on.</item>
/// <item>Completing <see cref="Input"/> stops reading from the connection.</item>
/// <item>A broken peer (a frame that fails authentication, a truncated frame) or a failing connection
/// aborts the session: <see cref="Input"/> and <see cref="Output"/> surface the error
/// (<see cref="InvalidDataException"/> for bad data) and the raw connection is completed with it.</item>
/// <item><see cref="Abort()"/> does the same with an <see cref="IOException"/>. <see cref="DisposeAsync"/>
/// aborts and waits for both pumps; both are idempotent.</item>
/// <item>To close gracefully, complete <see cref="Output"/>, await <see cref="OutputClosed"/> (bounded by
/// the caller's own timeout: a peer that never reads keeps it pending), then dispose. Disposing first
/// aborts, and data still queued in <see cref="Output"/> may be lost.</item>
/// </list>
/// </para>
/// <para>
/// Backpressure: both internal pipes pause their writer at <see cref="PauseThreshold"/> bytes, so when
/// the application does not read, the session stops reading the connection and the peer's writes
/// stall; when the connection does not drain, the application's flushes stall.
/// </para>
/// </remarks>
internal sealed partial class NoiseSession : IDuplexPipe, IAsyncDisposable
{
    /// <summary>Unread bytes at which a session pipe pauses its writer.</summary>
    public const int PauseThreshold = 256 * 1024;

    /// <summary>Unread bytes at which a paused session pipe resumes its writer.</summary>
    public const int ResumeThreshold = 128 * 1024;

    /// <summary>Pipe segment size: a whole transport message fits in one, so most frames need no gathering copy.</summary>
    private const int SegmentSize = 64 * 1024;

    private static readonly PipeOptions SessionPipeOptions = new(
        pauseWriterThreshold: PauseThreshold,
        resumeWriterThreshold: ResumeThreshold,
        minimumSegmentSize: SegmentSize,
        readerScheduler: PipeScheduler.Inline,
        writerScheduler: PipeScheduler.Inline,
        useSynchronizationContext: false);

    private readonly IDuplexPipe _raw;
    private readonly NoiseCipherState _send;
    private readonly NoiseCipherState _receive;
    private readonly Pipe _inbound = new(SessionPipeOptions);
    private readonly DrainingPipeReader _input;
    private readonly Pipe _outbound = new(SessionPipeOptions);
    private readonly CancellationTokenSource _abort = new();
    private readonly Lock _lock = new();
    private Exception? _abortReason;
    private Task _readPump = Task.CompletedTask;
    private Task _writePump = Task.CompletedTask;

    private NoiseSession(IDuplexPipe raw, NoiseCipherState send, NoiseCipherState receive, NoiseRemoteIdentity remote, bool isInitiator)
    {
        _raw = raw;
        _input = new DrainingPipeReader(_inbound.Reader);
        _send = send;
        _receive = receive;
        RemotePublicKey = remote.PublicKey;
        RemotePeer = remote.PeerId;
        RemoteMuxers = remote.Muxers;
        IsInitiator = isInitiator;
    }

    /// <summary>Whether this side initiated the handshake (dialed).</summary>
    public bool IsInitiator { get; }

    /// <summary>The authenticated remote peer id.</summary>
    public PeerId RemotePeer { get; }

    /// <summary>The authenticated remote identity key.</summary>
    public PublicKey RemotePublicKey { get; }

    /// <summary>The remote's <c>stream_muxers</c> extension, in its order; empty when it sent none.</summary>
    public IReadOnlyList<string> RemoteMuxers { get; }

    /// <summary>Decrypted data from the peer; a failure of the connection surfaces only after everything decrypted before it was read.</summary>
    public PipeReader Input => _input;

    /// <summary>Data to encrypt and send to the peer.</summary>
    public PipeWriter Output => _outbound.Writer;

    /// <summary>Aborts the session: both directions stop, the raw connection is completed with an error,
    /// and pending reads and writes of the application fail with an <see cref="IOException"/>. Idempotent.</summary>
    public void Abort() => Abort(new IOException("The Noise session was aborted."));

    /// <summary>Aborts the session (see <see cref="Abort()"/>) and waits for its pumps to finish. Idempotent.</summary>
    /// <returns>A task that completes when nothing of the session runs any more.</returns>
    public async ValueTask DisposeAsync()
    {
        Abort();
        await Task.WhenAll(_readPump, _writePump).ConfigureAwait(false);

        // Every later Abort returns before touching the source: the abort reason is already set.
        _abort.Dispose();
    }

    /// <summary>
    /// Completes when the send direction has ended: the application completed <see cref="Output"/> and
    /// everything was flushed and the raw output completed, or the connection stopped reading, or the
    /// session was aborted. Never faults.
    /// </summary>
    public Task OutputClosed => _writePump;

    /// <summary>
    /// Whether the session keeps reading the connection, dropping what comes, after the application completed
    /// <see cref="Input"/>, until the peer's half-close (so <see cref="InputEnded"/> marks it). Off by default: the
    /// session then stops reading and the peer's writes back up.
    /// </summary>
    internal bool DrainInputAfterCompletion { get; set; }

    /// <summary>Completes when the receive direction has ended (the raw input ended or failed, or the session was aborted); never faults.</summary>
    internal Task InputEnded => _readPump;

    /// <summary>Completes when both pumps have finished (for tests and diagnostics).</summary>
    internal Task PumpsCompleted => Task.WhenAll(_readPump, _writePump);

    /// <summary>Creates the session and starts its pumps; it takes ownership of everything passed.</summary>
    internal static NoiseSession Start(IDuplexPipe raw, NoiseCipherState send, NoiseCipherState receive, NoiseRemoteIdentity remote, bool isInitiator)
    {
        var session = new NoiseSession(raw, send, receive, remote, isInitiator);
        session._readPump = Task.Run(session.ReadPumpAsync);
        session._writePump = Task.Run(session.WritePumpAsync);
        return session;
    }

    private Exception AbortReason
    {
        get
        {
            lock (_lock)
            {
                return _abortReason ?? new IOException("The Noise session was aborted.");
            }
        }
    }

    private void Abort(Exception reason)
    {
        lock (_lock)
        {
            if (_abortReason is not null)
            {
                return;
            }

            _abortReason = reason;
        }

        _abort.Cancel();
    }
}
