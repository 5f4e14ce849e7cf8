using System.IO.Pipelines;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;

namespace CircuitRelay.ReferenceHost.Yamux;

/// <summary>
/// A Yamux session (digest 6) over a secure channel: multiplexes <see cref="YamuxStream"/>s, answers pings,
/// enforces flow control and ends with Go Away.
/// </summary>
/// <remarks>
/// <para>The session owns the transport: it completes both sides when it ends. One reader loop parses frames
/// and never waits on the application; all writes to the transport are serialized by one lock, and control
/// frames raised from synchronous paths (window updates, ping answers, resets) go through a bounded queue.</para>
/// <para>It ends when <see cref="DisposeAsync"/> or <see cref="Abort"/> is called, the transport ends or fails,
/// the peer breaks the protocol (Go Away with code 1 is sent first), the peer sends Go Away with an error code,
/// or a keep-alive ping goes unanswered.</para>
/// </remarks>
internal sealed partial class YamuxSession : IAsyncDisposable
{
    private readonly IDuplexPipe _transport;
    private readonly YamuxOptions _options;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _closedCts = new();
    private readonly TaskCompletionSource _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource<YamuxGoAwayCode> _remoteGoAway = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Lock _streamsLock = new();
    private readonly Dictionary<uint, YamuxStream> _streams = [];
    private readonly Channel<YamuxStream> _acceptQueue;
    private readonly SemaphoreSlim _synSlots;
    private readonly ITimer? _keepAliveTimer;
    private readonly Task _readLoop;
    private readonly Task _controlLoop;

    // Guarded by _streamsLock.
    private long _nextStreamId;
    private bool _closing;
    private bool _localGoAway;
    private bool _remoteGoAwayReceived;
    private Exception? _closeError;

    /// <summary>Starts a session over <paramref name="transport"/>.</summary>
    /// <param name="transport">The secure channel; the session owns it from now on.</param>
    /// <param name="isClient">Whether this side is the client (the dialer in libp2p): odd stream ids.</param>
    /// <param name="logger">The logger.</param>
    /// <param name="options">Settings; <see langword="null"/> for the defaults.</param>
    public YamuxSession(IDuplexPipe transport, bool isClient, ILogger logger, YamuxOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(transport);
        ArgumentNullException.ThrowIfNull(logger);
        options ??= new YamuxOptions();
        options.Validate();

        _transport = transport;
        _options = options;
        _logger = logger;
        IsClient = isClient;
        _nextStreamId = isClient ? 1 : 2;
        _acceptQueue = Channel.CreateBounded<YamuxStream>(new BoundedChannelOptions(options.AcceptBacklog)
        {
            SingleWriter = true,
            FullMode = BoundedChannelFullMode.Wait,
        });
        _synSlots = new SemaphoreSlim(options.AcceptBacklog, options.AcceptBacklog);
        _control = Channel.CreateUnbounded<YamuxHeader>(new UnboundedChannelOptions { SingleReader = true });

        _readLoop = Task.Run(ReadLoopAsync);
        _controlLoop = Task.Run(ControlLoopAsync);
        if (options.KeepAliveInterval is { } interval)
        {
            _keepAliveTimer = options.TimeProvider.CreateTimer(static state => ((YamuxSession)state!).OnKeepAliveTick(), this, interval, interval);
        }
    }

    /// <summary>Whether this side is the client (odd stream ids).</summary>
    public bool IsClient { get; }

    /// <summary>Completes when the session has ended and released the transport. Faults with the cause when it
    /// ended because of an error (<see cref="InvalidDataException"/> for a protocol violation by the peer).</summary>
    public Task Completion => _completion.Task;

    /// <summary>Cancelled as soon as the session starts closing.</summary>
    public CancellationToken Closed => _closedCts.Token;

    /// <summary>Completes with the code of the first Go Away the peer sends.</summary>
    public Task<YamuxGoAwayCode> RemoteGoAway => _remoteGoAway.Task;

    /// <summary>The latest measured round-trip time, or <see langword="null"/> before the first ping answer.</summary>
    public TimeSpan? RoundTripTime
    {
        get
        {
            long ticks = Volatile.Read(ref _rttTicks);
            return ticks == 0 ? null : TimeSpan.FromTicks(ticks);
        }
    }

    /// <summary>The number of streams the session tracks (open, or half-closed in one direction).</summary>
    internal int StreamCount
    {
        get
        {
            lock (_streamsLock)
            {
                return _streams.Count;
            }
        }
    }

    internal TimeProvider TimeProvider => _options.TimeProvider;

    internal int MaxFramePayloadSize => _options.MaxFramePayloadSize;

    /// <summary>Opens a stream. Data may be written at once; the peer may still refuse the stream with RST.</summary>
    /// <remarks>Waits while <see cref="YamuxOptions.AcceptBacklog"/> opened streams are still unacknowledged.</remarks>
    /// <exception cref="IOException">The session is closed or going away, the peer sent Go Away, or stream ids are
    /// exhausted.</exception>
    public async ValueTask<YamuxStream> OpenStreamAsync(CancellationToken cancellationToken = default)
    {
        ThrowIfCannotOpen();
        using (CancellationTokenSource linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _closedCts.Token))
        {
            try
            {
                await _synSlots.WaitAsync(linked.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                throw CreateClosedException();
            }
        }

        YamuxStream stream;
        lock (_streamsLock)
        {
            string? refusal = _closing ? "closed"
                : _localGoAway ? "going away"
                : _remoteGoAwayReceived ? "refused by the peer's Go Away"
                : _nextStreamId > uint.MaxValue ? "out of stream ids"
                : null;
            if (refusal is not null)
            {
                _synSlots.Release();
                throw new IOException($"Cannot open a Yamux stream: the session is {refusal}.", _closeError);
            }

            stream = new YamuxStream(this, (uint)_nextStreamId, outbound: true, _options);
            _nextStreamId += 2;
            _streams.Add(stream.Id, stream);
        }

        try
        {
            var syn = new YamuxHeader(YamuxFrameType.WindowUpdate, YamuxFlags.Syn, stream.Id, stream.TakeOpeningWindowDelta());
            await SendFrameAsync(syn, default).ConfigureAwait(false);
        }
        catch
        {
            stream.OnSessionClosed(_closeError);
            throw;
        }

        stream.StartSending();
        return stream;
    }

    /// <summary>Accepts the next inbound stream and acknowledges it.</summary>
    /// <returns>The stream, or <see langword="null"/> once the session is closed, or going away and the backlog
    /// is drained.</returns>
    public async ValueTask<YamuxStream?> AcceptStreamAsync(CancellationToken cancellationToken = default)
    {
        ChannelReader<YamuxStream> queue = _acceptQueue.Reader;
        while (await queue.WaitToReadAsync(cancellationToken).ConfigureAwait(false))
        {
            if (_closedCts.IsCancellationRequested)
            {
                return null;
            }

            if (!queue.TryRead(out YamuxStream? stream))
            {
                continue;
            }

            if (!stream.IsReset)
            {
                try
                {
                    var ack = new YamuxHeader(YamuxFrameType.WindowUpdate, YamuxFlags.Ack, stream.Id, stream.TakeOpeningWindowDelta());
                    await SendFrameAsync(ack, default).ConfigureAwait(false);
                }
                catch (IOException) when (_closedCts.IsCancellationRequested)
                {
                    return null;
                }
            }

            stream.StartSending();
            return stream;
        }

        return null;
    }

    /// <summary>Sends Go Away (normal): the peer opens no more streams and this side refuses any that still
    /// arrive (RST). Existing streams continue; <see cref="AcceptStreamAsync"/> returns <see langword="null"/> once
    /// the backlog is drained.</summary>
    public async ValueTask GoAwayAsync(CancellationToken cancellationToken = default)
    {
        lock (_streamsLock)
        {
            if (_localGoAway || _closing)
            {
                return;
            }

            _localGoAway = true;
            _goAwaySent = true;
        }

        _acceptQueue.Writer.TryComplete();
        cancellationToken.ThrowIfCancellationRequested();
        await SendFrameAsync(new YamuxHeader(YamuxFrameType.GoAway, YamuxFlags.None, 0, (uint)YamuxGoAwayCode.Normal), default).ConfigureAwait(false);
    }

    /// <summary>Sends Go Away (normal) unless already sent, closes the transport and fails every open stream.
    /// Idempotent; never throws.</summary>
    public async ValueTask DisposeAsync()
    {
        BeginClose(YamuxGoAwayCode.Normal, null, abortTransport: false);
        try
        {
            await _completion.Task.ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // The cause is on Completion for whoever wants it; disposing does not rethrow it.
        }
    }

    /// <summary>Ends the session at once, without Go Away: the transport is completed with <paramref name="reason"/>
    /// and every stream fails. <see cref="Completion"/> faults with <paramref name="reason"/> when one is given.</summary>
    public void Abort(Exception? reason = null) => BeginClose(null, reason, abortTransport: true);

    /// <inheritdoc />
    public override string ToString() => $"yamux session ({(IsClient ? "client" : "server")})";

    /// <summary>Forgets a stream that finished or was reset.</summary>
    internal void RemoveStream(YamuxStream stream)
    {
        lock (_streamsLock)
        {
            if (_streams.TryGetValue(stream.Id, out YamuxStream? current) && ReferenceEquals(current, stream))
            {
                _streams.Remove(stream.Id);
            }
        }
    }

    /// <summary>Returns an outbound SYN credit once the stream is acknowledged or gone.</summary>
    internal void ReleaseSynSlot() => _synSlots.Release();

    private void ThrowIfCannotOpen()
    {
        lock (_streamsLock)
        {
            if (_closing)
            {
                throw CreateClosedException();
            }

            if (_remoteGoAwayReceived)
            {
                throw new IOException("Cannot open a Yamux stream: the peer sent Go Away.");
            }

            if (_localGoAway)
            {
                throw new IOException("Cannot open a Yamux stream: the session is going away.");
            }
        }
    }

    private IOException CreateClosedException() => new("The Yamux session is closed.", _closeError);

    /// <summary>Starts ending the session (once): fails streams and waiters, then finishes in the background.</summary>
    private void BeginClose(YamuxGoAwayCode? goAway, Exception? error, bool abortTransport)
    {
        List<YamuxStream> streams;
        lock (_streamsLock)
        {
            if (_closing)
            {
                return;
            }

            _closing = true;
            _closeError = error;
            streams = [.. _streams.Values];
        }

        if (error is InvalidDataException)
        {
            Log.YamuxProtocolViolation(_logger, error.Message);
        }

        Log.YamuxSessionClosing(_logger, IsClient ? "client" : "server", error?.Message ?? "normal");
        _keepAliveTimer?.Dispose();
        _closedCts.Cancel();
        _acceptQueue.Writer.TryComplete();
        _control.Writer.TryComplete();
        foreach (YamuxStream stream in streams)
        {
            stream.OnSessionClosed(error);
        }

        FailPendingPings();
        _ = FinishCloseAsync(goAway, error, abortTransport);
    }

    private async Task FinishCloseAsync(YamuxGoAwayCode? goAway, Exception? error, bool abortTransport)
    {
        // Writers holding the lock use the Closed token, so they let go promptly.
        await _writeLock.WaitAsync().ConfigureAwait(false);
        try
        {
            PipeWriter output = _transport.Output;
            if (goAway is { } code && !_goAwaySent)
            {
                _goAwaySent = true;
                new YamuxHeader(YamuxFrameType.GoAway, YamuxFlags.None, 0, (uint)code).Write(output.GetSpan(YamuxHeader.Size));
                output.Advance(YamuxHeader.Size);
            }

            // Completing commits what was written: the Go Away still reaches the peer.
            await output.CompleteAsync(abortTransport ? error ?? new IOException("The Yamux session was aborted.") : null).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // The transport is already gone; nothing more to tell the peer.
        }
        finally
        {
            _writeLock.Release();
        }

        await _readLoop.ConfigureAwait(false);
        await _controlLoop.ConfigureAwait(false);
        if (error is null)
        {
            _completion.TrySetResult();
        }
        else
        {
            _completion.TrySetException(error);
        }
    }
}
