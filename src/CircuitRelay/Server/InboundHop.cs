using CircuitRelay.Abstractions;
using CircuitRelay.Internal;
using CircuitRelay.Protocol;
using CircuitRelay.Protocol.Pb;
using Google.Protobuf;

namespace CircuitRelay.Server;

/// <summary>
/// The relay side of the hop protocol: reads the request on a hop stream and answers it. Policy (caps, rate
/// limits, access control, limits) is <see cref="RelayServer"/>'s; this file only speaks the wire protocol.
/// </summary>
/// <remarks>
/// A RESERVE becomes a <see cref="ReservationRequest"/>, a CONNECT a <see cref="CircuitRequest"/>: each must be
/// answered exactly once, by <c>AcceptAsync</c> or <see cref="HopRequest.DenyAsync"/> (as rust-libp2p's
/// <c>inbound_hop::ReservationReq</c> and <c>CircuitReq</c>).
/// </remarks>
internal static class InboundHop
{
    /// <summary>Reads the request that opens a hop stream.</summary>
    /// <param name="stream">The hop stream; still owned by the caller when this throws.</param>
    /// <param name="timeout">How long the peer has to send its request, and later how long an answer may take to write.</param>
    /// <param name="time">The clock of the timeout.</param>
    /// <param name="cancellationToken">The relay's shutdown.</param>
    /// <returns>A <see cref="ReservationRequest"/> or a <see cref="CircuitRequest"/>, to be answered once.</returns>
    /// <exception cref="RelayException">The request is unreadable or not a request (<see cref="RelayErrorKind.ProtocolViolation"/>:
    /// its status is the answer the spec gives, see <see cref="RejectAsync"/>), the stream failed (<see cref="RelayErrorKind.Io"/>)
    /// or no request arrived in time (<see cref="RelayErrorKind.Timeout"/>).</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    public static async Task<HopRequest> ReadRequestAsync(ILibp2pStream stream, TimeSpan timeout, TimeProvider time, CancellationToken cancellationToken)
    {
        HopMessage request;
        using (var scope = new TimeoutScope(timeout, time, cancellationToken))
        {
            try
            {
                request = await MessageIO.ReadHopAsync(stream.Input, scope.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is IOException || (ex is OperationCanceledException && scope.TimedOut))
            {
                throw RelayException.From(ex, "hop");
            }
        }

        // A typeless request reads as RESERVE (the proto3 zero value), as rust decodes it.
        HopMessage.Types.Type type = request.HasType ? request.Type : HopMessage.Types.Type.Reserve;
        return type switch
        {
            HopMessage.Types.Type.Reserve => new ReservationRequest(stream, timeout, time, cancellationToken),
            HopMessage.Types.Type.Connect => new CircuitRequest(stream, ParseTarget(request), timeout, time, cancellationToken),
            HopMessage.Types.Type.Status => throw RelayException.ProtocolViolation(RelayStatus.UnexpectedMessage, "a STATUS message is not a request"),
            _ => throw RelayException.ProtocolViolation(RelayStatus.MalformedMessage, $"unknown message type {(int)type}"),
        };
    }

    /// <summary>Answers a hop stream whose request could not be read with <paramref name="status"/>, then closes it.</summary>
    public static Task RejectAsync(ILibp2pStream stream, RelayStatus status, TimeSpan timeout, TimeProvider time, CancellationToken cancellationToken)
        => AnswerAndCloseAsync(stream, MessageIO.HopStatus(status), timeout, time, cancellationToken);

    /// <summary>Writes the final message and closes the stream; resets it when the write fails.</summary>
    internal static async Task<bool> AnswerAndCloseAsync(ILibp2pStream stream, HopMessage message, TimeSpan timeout, TimeProvider time, CancellationToken cancellationToken)
    {
        bool written = await TryAnswerAsync(stream, message, timeout, time, cancellationToken).ConfigureAwait(false);
        if (!written)
        {
            stream.Abort();
        }

        await stream.DisposeAsync().ConfigureAwait(false);
        return written;
    }

    /// <summary>Writes one message; <see langword="false"/> when the stream failed, timed out or the relay shuts down.</summary>
    internal static async Task<bool> TryAnswerAsync(ILibp2pStream stream, HopMessage message, TimeSpan timeout, TimeProvider time, CancellationToken cancellationToken)
    {
        try
        {
            using var scope = new TimeoutScope(timeout, time, cancellationToken);
            await MessageIO.WriteAsync(stream.Output, message, scope.Token).ConfigureAwait(false);
            return true;
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException)
        {
            return false;
        }
    }

    private static PeerId? ParseTarget(HopMessage request)
        => request.Peer is { HasId: true } peer && PeerId.TryFromBytes(peer.Id.Span, out PeerId? target) ? target : null;
}

/// <summary>
/// A hop request the relay answers exactly once: <c>AcceptAsync</c> on the concrete request, or <see cref="DenyAsync"/>.
/// A second answer throws <see cref="InvalidOperationException"/>; a request disposed unanswered is denied, so a peer is
/// never left waiting.
/// </summary>
internal abstract class HopRequest : IAsyncDisposable
{
    private readonly TimeSpan _answerTimeout;
    private readonly TimeProvider _time;
    private readonly CancellationToken _shutdown;
    private int _answered;

    private protected HopRequest(ILibp2pStream stream, TimeSpan answerTimeout, TimeProvider time, CancellationToken shutdown)
    {
        Stream = stream;
        _answerTimeout = answerTimeout;
        _time = time;
        _shutdown = shutdown;
    }

    /// <summary>The connection the request arrived on.</summary>
    public ConnectionInfo Connection => Stream.Connection;

    /// <summary>The requesting peer.</summary>
    public PeerId Peer => Stream.Connection.RemotePeer;

    /// <summary>Whether the request has been answered (accepted, denied or disposed).</summary>
    public bool IsAnswered => Volatile.Read(ref _answered) != 0;

    /// <summary>The answer of a request disposed unanswered.</summary>
    private protected abstract RelayStatus DefaultDenial { get; }

    private protected ILibp2pStream Stream { get; }

    /// <summary>Refuses the request with <paramref name="status"/> and closes the stream (resets it when the answer cannot be written).</summary>
    /// <exception cref="ArgumentException"><paramref name="status"/> is <see cref="RelayStatus.Ok"/>: accepting is <c>AcceptAsync</c>.</exception>
    /// <exception cref="InvalidOperationException">The request was answered already.</exception>
    public Task DenyAsync(RelayStatus status)
    {
        if (status == RelayStatus.Ok)
        {
            throw new ArgumentException("A denial needs a status other than OK.", nameof(status));
        }

        ClaimAnswer();
        return AnswerAndCloseAsync(MessageIO.HopStatus(status));
    }

    /// <summary>Denies the request with <see cref="DefaultDenial"/> unless it was answered.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _answered, 1) == 0)
        {
            await AnswerAndCloseAsync(MessageIO.HopStatus(DefaultDenial)).ConfigureAwait(false);
        }
    }

    /// <summary>Marks the request answered; throws when it was.</summary>
    private protected void ClaimAnswer()
    {
        if (Interlocked.Exchange(ref _answered, 1) != 0)
        {
            throw new InvalidOperationException("The hop request has been answered already.");
        }
    }

    private protected Task<bool> AnswerAndCloseAsync(HopMessage message)
        => InboundHop.AnswerAndCloseAsync(Stream, message, _answerTimeout, _time, _shutdown);

    private protected Task<bool> TryAnswerAsync(HopMessage message)
        => InboundHop.TryAnswerAsync(Stream, message, _answerTimeout, _time, _shutdown);
}

/// <summary>A RESERVE request: <see cref="AcceptAsync"/> grants the reservation, <see cref="HopRequest.DenyAsync"/> refuses it.</summary>
internal sealed class ReservationRequest : HopRequest
{
    internal ReservationRequest(ILibp2pStream stream, TimeSpan answerTimeout, TimeProvider time, CancellationToken shutdown)
        : base(stream, answerTimeout, time, shutdown)
    {
    }

    /// <inheritdoc />
    private protected override RelayStatus DefaultDenial => RelayStatus.ReservationRefused;

    /// <summary>
    /// Answers STATUS OK with the reservation, then closes the stream.
    /// </summary>
    /// <param name="expiry">The reservation's expiry (whole seconds on the wire).</param>
    /// <param name="addresses">The relay's public addresses, each ending in <c>/p2p/&lt;relay&gt;</c>, in order.</param>
    /// <param name="voucher">The sealed reservation voucher.</param>
    /// <param name="limit">The limit of each circuit, or <see langword="null"/> when unlimited.</param>
    /// <returns><see langword="true"/> when the answer was written; <see langword="false"/> when the stream failed (it is reset).</returns>
    /// <exception cref="InvalidOperationException">The request was answered already.</exception>
    public Task<bool> AcceptAsync(DateTimeOffset expiry, IEnumerable<Multiaddr> addresses, ReadOnlySpan<byte> voucher, RelayLimit? limit)
    {
        ClaimAnswer();
        var reservation = new Reservation { Expire = (ulong)expiry.ToUnixTimeSeconds() };
        foreach (Multiaddr address in addresses)
        {
            reservation.Addrs.Add(ByteString.CopyFrom(address.ToByteArray()));
        }

        reservation.Voucher = ByteString.CopyFrom(voucher);
        var response = new HopMessage
        {
            Type = HopMessage.Types.Type.Status,
            Status = Status.Ok,
            Reservation = reservation,
        };
        if (MessageIO.ToWire(limit) is { } wireLimit)
        {
            response.Limit = wireLimit;
        }

        return AnswerAndCloseAsync(response);
    }
}

/// <summary>
/// A CONNECT request: <see cref="AcceptAsync"/> answers OK and hands over the stream, which from then on is the
/// source's end of the circuit; <see cref="HopRequest.DenyAsync"/> refuses it.
/// </summary>
internal sealed class CircuitRequest : HopRequest
{
    internal CircuitRequest(ILibp2pStream stream, PeerId? target, TimeSpan answerTimeout, TimeProvider time, CancellationToken shutdown)
        : base(stream, answerTimeout, time, shutdown)
    {
        Target = target;
    }

    /// <summary>The peer to connect to, or <see langword="null"/> when the request names no valid peer id (deny it with MALFORMED_MESSAGE).</summary>
    public PeerId? Target { get; }

    /// <inheritdoc />
    private protected override RelayStatus DefaultDenial => RelayStatus.ConnectionFailed;

    /// <summary>Answers STATUS OK with <paramref name="limit"/>.</summary>
    /// <param name="limit">The circuit's limit, or <see langword="null"/> when unlimited.</param>
    /// <returns>
    /// The hop stream, now the source's end of the circuit and owned by the caller (bytes the source sent after its
    /// request are still in it); <see langword="null"/> when the answer could not be written (the stream is reset and released).
    /// </returns>
    /// <exception cref="InvalidOperationException">The request was answered already.</exception>
    public async Task<ILibp2pStream?> AcceptAsync(RelayLimit? limit)
    {
        ClaimAnswer();
        var ok = new HopMessage { Type = HopMessage.Types.Type.Status, Status = Status.Ok };
        if (MessageIO.ToWire(limit) is { } wireLimit)
        {
            ok.Limit = wireLimit;
        }

        if (await TryAnswerAsync(ok).ConfigureAwait(false))
        {
            return Stream;
        }

        Stream.Abort();
        await Stream.DisposeAsync().ConfigureAwait(false);
        return null;
    }
}
