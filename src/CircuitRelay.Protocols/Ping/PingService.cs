using System.Buffers;
using System.IO.Pipelines;
using System.Security.Cryptography;
using CircuitRelay.Abstractions;
using Microsoft.Extensions.Logging;

namespace CircuitRelay.Protocols.Ping;

/// <summary>
/// Ping (digest section 10) over the host plug-in surface: echoes inbound 32-byte payloads and measures
/// the round-trip time to a peer.
/// </summary>
/// <remarks>
/// Any host can run it: it uses only <see cref="ILibp2pHost"/> (streams and a protocol handler), no feature.
/// Inbound streams are accepted on limited (relayed) connections too, at most
/// <see cref="MaxInboundStreamsPerPeer"/> at a time per peer (further ones are reset). Outbound pings to
/// one peer run one at a time, so this node never keeps more than one ping stream per peer.
/// </remarks>
public sealed class PingService : IAsyncDisposable
{
    /// <summary>The ping protocol id.</summary>
    public const string ProtocolId = "/ipfs/ping/1.0.0";

    /// <summary>The payload size of one round.</summary>
    internal const int PayloadSize = 32;

    /// <summary>How many inbound ping streams one peer may have open at once.</summary>
    internal const int MaxInboundStreamsPerPeer = 2;

    /// <summary>The time allowed for one outbound ping, stream opening included (10 seconds).</summary>
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

    /// <summary>How long an inbound stream may stay without a complete payload before it is reset (go: 60 s).</summary>
    internal static readonly TimeSpan InboundIdleTimeout = TimeSpan.FromSeconds(60);

    private static readonly OpenStreamOptions OpenOptions = new() { AllowLimitedConnection = true };
    private static readonly StreamHandlerOptions HandlerOptions = new() { AllowLimitedConnection = true };

    private readonly ILibp2pHost _host;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly Lock _sync = new();
    private readonly Dictionary<PeerId, int> _inbound = [];
    private readonly Dictionary<PeerId, OutboundGate> _outbound = [];
    private readonly CancellationTokenSource _disposing = new();
    private bool _started;
    private bool _disposed;

    /// <summary>Creates the service; call <see cref="Start"/> to register the handler.</summary>
    /// <param name="host">The host whose streams the service uses.</param>
    /// <param name="loggerFactory">Creates the service's logger (category <c>CircuitRelay.Protocols.Ping.PingService</c>).</param>
    /// <param name="timeProvider">The clock for timeouts and round-trip times; <see langword="null"/> for <see cref="TimeProvider.System"/>.</param>
    /// <exception cref="ArgumentNullException"><paramref name="host"/> or <paramref name="loggerFactory"/> is <see langword="null"/>.</exception>
    public PingService(ILibp2pHost host, ILoggerFactory loggerFactory, TimeProvider? timeProvider = null)
        : this(host, (loggerFactory ?? throw new ArgumentNullException(nameof(loggerFactory))).CreateLogger<PingService>(), timeProvider ?? TimeProvider.System)
    {
    }

    /// <summary>Creates the service with a logger of the caller's choice (tests).</summary>
    /// <param name="host">The host whose streams the service uses.</param>
    /// <param name="logger">The logger.</param>
    /// <param name="time">The clock for timeouts and round-trip times.</param>
    internal PingService(ILibp2pHost host, ILogger logger, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(host);
        ArgumentNullException.ThrowIfNull(logger);
        ArgumentNullException.ThrowIfNull(time);
        _host = host;
        _logger = logger;
        _time = time;
    }

    /// <summary>Registers the <c>/ipfs/ping/1.0.0</c> handler (limited connections allowed).</summary>
    /// <exception cref="InvalidOperationException">The service was already started.</exception>
    /// <exception cref="ObjectDisposedException">The service was disposed.</exception>
    public void Start()
    {
        lock (_sync)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_started)
            {
                throw new InvalidOperationException("The ping service is already started.");
            }

            _started = true;
        }

        _host.SetStreamHandler(ProtocolId, HandleAsync, HandlerOptions);
    }

    /// <summary>
    /// Pings <paramref name="peer"/> once: opens a stream (limited connections allowed; dialing as the
    /// host does by default), sends 32 random bytes, reads and checks the echo, then closes its write
    /// side and waits for the peer to end the stream (a reset counts too; so does running out of time
    /// once the echo arrived), so that back-to-back pings never exceed the peer's per-peer stream limit.
    /// </summary>
    /// <param name="peer">The peer to ping.</param>
    /// <param name="cancellationToken">Cancels the ping.</param>
    /// <returns>The time from sending the payload to receiving the whole echo.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="peer"/> is <see langword="null"/>.</exception>
    /// <exception cref="ObjectDisposedException">The service was disposed.</exception>
    /// <exception cref="IOException">The peer is unreachable, refused the protocol, or reset the stream.</exception>
    /// <exception cref="InvalidDataException">The echo differs from the payload.</exception>
    /// <exception cref="EndOfStreamException">The peer closed the stream before echoing 32 bytes.</exception>
    /// <exception cref="TimeoutException">The ping took longer than <see cref="Timeout"/>.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled or the service disposed.</exception>
    public async Task<TimeSpan> PingAsync(PeerId peer, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(peer);
        OutboundGate gate = EnterGate(peer);
        using var timeout = new CancellationTokenSource(Timeout, _time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token, _disposing.Token);
        bool entered = false;
        ILibp2pStream? stream = null;
        try
        {
            await gate.Semaphore.WaitAsync(linked.Token).ConfigureAwait(false);
            entered = true;
            stream = await _host.OpenStreamAsync(peer, ProtocolId, OpenOptions, linked.Token).ConfigureAwait(false);
            TimeSpan roundTrip = await RoundTripAsync(stream, linked.Token).ConfigureAwait(false);
            await stream.Output.CompleteAsync().ConfigureAwait(false);
            await WaitForRemoteCloseAsync(stream, timeout, linked.Token).ConfigureAwait(false);
            await stream.DisposeAsync().ConfigureAwait(false);
            stream = null;
            PingLog.PingSucceeded(_logger, peer, roundTrip);
            return roundTrip;
        }
        catch (OperationCanceledException ex) when (timeout.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            var timedOut = new TimeoutException($"Ping to {peer} did not complete within {Timeout.TotalSeconds} s.", ex);
            PingLog.PingFailed(_logger, peer, timedOut);
            throw timedOut;
        }
        catch (Exception ex) when (ex is InvalidDataException or EndOfStreamException or IOException)
        {
            PingLog.PingFailed(_logger, peer, ex);
            throw;
        }
        finally
        {
            stream?.Abort();
            ExitGate(peer, gate, entered);
        }
    }

    /// <summary>Removes the handler and cancels pings in flight. Idempotent.</summary>
    /// <returns>A task that completes when the service stopped.</returns>
    public async ValueTask DisposeAsync()
    {
        bool started;
        lock (_sync)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            started = _started;
        }

        if (started)
        {
            _host.RemoveStreamHandler(ProtocolId);
        }

        await _disposing.CancelAsync().ConfigureAwait(false);
    }

    /// <summary>
    /// Waits until the peer ended its side of the stream, so that its inbound slot is free again before
    /// the next ping to it opens a stream. A reset (go resets instead of closing) or running out of time
    /// after the echo arrived does not fail the ping.
    /// </summary>
    private static async Task WaitForRemoteCloseAsync(ILibp2pStream stream, CancellationTokenSource timeout, CancellationToken cancellationToken)
    {
        try
        {
            while (true)
            {
                ReadResult result = await stream.Input.ReadAsync(cancellationToken).ConfigureAwait(false);
                stream.Input.AdvanceTo(result.Buffer.End);
                if (result.IsCompleted || result.IsCanceled)
                {
                    return;
                }
            }
        }
        catch (IOException)
        {
            // The peer reset the stream after its echo: it is gone all the same.
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested)
        {
            // The echo arrived in time; only the close did not.
        }
    }

    private async Task<TimeSpan> RoundTripAsync(ILibp2pStream stream, CancellationToken cancellationToken)
    {
        byte[] payload = new byte[PayloadSize];
        RandomNumberGenerator.Fill(payload);
        long start = _time.GetTimestamp();
        await stream.Output.WriteAsync(payload, cancellationToken).ConfigureAwait(false);
        byte[] echo = await ReadPayloadAsync(stream.Input, cancellationToken).ConfigureAwait(false)
            ?? throw new EndOfStreamException("The peer closed the ping stream without echoing.");
        TimeSpan roundTrip = _time.GetElapsedTime(start);
        if (!CryptographicOperations.FixedTimeEquals(echo, payload))
        {
            throw new InvalidDataException("The ping echo differs from the payload sent.");
        }

        return roundTrip;
    }

    private async Task HandleAsync(ILibp2pStream stream, CancellationToken cancellationToken)
    {
        PeerId peer = stream.Connection.RemotePeer;
        if (!TryEnterInbound(peer))
        {
            PingLog.InboundStreamRefused(_logger, peer, MaxInboundStreamsPerPeer);
            stream.Abort();
            return;
        }

        int rounds = 0;
        bool succeeded = false;
        try
        {
            using var idle = new CancellationTokenSource(InboundIdleTimeout, _time);
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, idle.Token, _disposing.Token);
            while (await EchoOnceAsync(stream, linked.Token).ConfigureAwait(false))
            {
                rounds++;
                idle.CancelAfter(InboundIdleTimeout);
            }

            succeeded = true;
        }
        catch (Exception ex)
        {
            PingLog.InboundStreamFailed(_logger, peer, ex);
        }
        finally
        {
            // Free the slot before the FIN goes out, so the peer may open a new stream as soon as it sees it.
            ExitInbound(peer);
        }

        if (!succeeded)
        {
            stream.Abort();
            return;
        }

        try
        {
            await stream.Output.CompleteAsync().ConfigureAwait(false);
            await stream.DisposeAsync().ConfigureAwait(false);
            PingLog.InboundStreamEnded(_logger, peer, rounds);
        }
        catch (Exception ex)
        {
            PingLog.InboundStreamFailed(_logger, peer, ex);
            stream.Abort();
        }
    }

    /// <summary>Reads one payload and echoes it; <see langword="false"/> when the peer closed its write side cleanly.</summary>
    private static async Task<bool> EchoOnceAsync(ILibp2pStream stream, CancellationToken cancellationToken)
    {
        byte[]? payload = await ReadPayloadAsync(stream.Input, cancellationToken).ConfigureAwait(false);
        if (payload is null)
        {
            return false;
        }

        FlushResult flush = await stream.Output.WriteAsync(payload, cancellationToken).ConfigureAwait(false);
        return !flush.IsCompleted && !flush.IsCanceled;
    }

    /// <summary>Reads exactly one payload; <see langword="null"/> when the stream ended cleanly before it.</summary>
    /// <exception cref="EndOfStreamException">The stream ended inside a payload.</exception>
    private static async Task<byte[]?> ReadPayloadAsync(PipeReader input, CancellationToken cancellationToken)
    {
        ReadResult result = await input.ReadAtLeastAsync(PayloadSize, cancellationToken).ConfigureAwait(false);
        ReadOnlySequence<byte> buffer = result.Buffer;
        if (result.IsCanceled)
        {
            input.AdvanceTo(buffer.Start);
            throw new OperationCanceledException("The pending read was cancelled.");
        }

        if (buffer.Length < PayloadSize)
        {
            input.AdvanceTo(buffer.Start, buffer.End);
            return buffer.IsEmpty
                ? null
                : throw new EndOfStreamException($"The peer closed the ping stream inside a payload ({buffer.Length} of {PayloadSize} bytes).");
        }

        byte[] payload = buffer.Slice(0, PayloadSize).ToArray();
        input.AdvanceTo(buffer.GetPosition(PayloadSize));
        return payload;
    }

    private bool TryEnterInbound(PeerId peer)
    {
        lock (_sync)
        {
            _inbound.TryGetValue(peer, out int open);
            if (open >= MaxInboundStreamsPerPeer)
            {
                return false;
            }

            _inbound[peer] = open + 1;
            return true;
        }
    }

    private void ExitInbound(PeerId peer)
    {
        lock (_sync)
        {
            int open = _inbound[peer] - 1;
            if (open == 0)
            {
                _inbound.Remove(peer);
            }
            else
            {
                _inbound[peer] = open;
            }
        }
    }

    private OutboundGate EnterGate(PeerId peer)
    {
        lock (_sync)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (!_outbound.TryGetValue(peer, out OutboundGate? gate))
            {
                gate = new OutboundGate();
                _outbound.Add(peer, gate);
            }

            gate.Users++;
            return gate;
        }
    }

    private void ExitGate(PeerId peer, OutboundGate gate, bool entered)
    {
        if (entered)
        {
            gate.Semaphore.Release();
        }

        lock (_sync)
        {
            if (--gate.Users == 0)
            {
                _outbound.Remove(peer);
                gate.Semaphore.Dispose();
            }
        }
    }

    /// <summary>Serialises outbound pings to one peer.</summary>
    private sealed class OutboundGate
    {
        public SemaphoreSlim Semaphore { get; } = new(1, 1);

        public int Users { get; set; }
    }
}
