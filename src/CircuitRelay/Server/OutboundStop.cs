using CircuitRelay.Abstractions;
using CircuitRelay.Internal;
using CircuitRelay.Protocol;
using CircuitRelay.Protocol.Pb;
using Google.Protobuf;

namespace CircuitRelay.Server;

/// <summary>
/// The relay side of the stop protocol: opens the stop stream to the target over its existing connection (never
/// dialing), sends CONNECT and reads the target's STATUS.
/// </summary>
internal static class OutboundStop
{
    /// <summary>Runs the stop leg of a circuit from <paramref name="source"/> to <paramref name="target"/>.</summary>
    /// <param name="host">The relay's host.</param>
    /// <param name="source">The peer that asked for the circuit (named in CONNECT).</param>
    /// <param name="target">The peer to reach; it must be connected already.</param>
    /// <param name="limit">The circuit's limit, sent in CONNECT, or <see langword="null"/> when unlimited.</param>
    /// <param name="openTimeout">How long opening the stream may take.</param>
    /// <param name="handshakeTimeout">How long writing CONNECT and reading the answer may take.</param>
    /// <param name="time">The clock of the timeouts.</param>
    /// <param name="cancellationToken">The relay's shutdown.</param>
    /// <returns>The stop stream, now the target's end of the circuit (what follows STATUS OK stays in it).</returns>
    /// <exception cref="RelayException">The target refused (<see cref="RelayErrorKind.Refused"/> with its status),
    /// could not be reached or the stream failed (<see cref="RelayErrorKind.Io"/>), did not answer in time
    /// (<see cref="RelayErrorKind.Timeout"/>) or answered something invalid (<see cref="RelayErrorKind.ProtocolViolation"/>).
    /// The stop stream, if one was opened, is reset and released.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    public static async Task<ILibp2pStream> ConnectAsync(
        ILibp2pHost host,
        PeerId source,
        PeerId target,
        RelayLimit? limit,
        TimeSpan openTimeout,
        TimeSpan handshakeTimeout,
        TimeProvider time,
        CancellationToken cancellationToken)
    {
        ILibp2pStream stop;
        using (var scope = new TimeoutScope(openTimeout, time, cancellationToken))
        {
            try
            {
                stop = await host.OpenStreamAsync(target, RelayProtocol.Stop, new OpenStreamOptions { ExistingConnectionOnly = true }, scope.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is IOException || (ex is OperationCanceledException && scope.TimedOut))
            {
                throw RelayException.From(ex, "stop: could not open a stop stream");
            }
        }

        try
        {
            await HandshakeAsync(stop, source, limit, handshakeTimeout, time, cancellationToken).ConfigureAwait(false);
            return stop;
        }
        catch
        {
            // go resets the stop stream on any failure of the handshake.
            stop.Abort();
            await stop.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    private static async Task HandshakeAsync(ILibp2pStream stop, PeerId source, RelayLimit? limit, TimeSpan timeout, TimeProvider time, CancellationToken cancellationToken)
    {
        var connect = new StopMessage
        {
            Type = StopMessage.Types.Type.Connect,
            Peer = new Peer { Id = ByteString.CopyFrom(source.AsSpan()) },
        };
        if (MessageIO.ToWire(limit) is { } wireLimit)
        {
            connect.Limit = wireLimit;
        }

        StopMessage reply;
        using (var scope = new TimeoutScope(timeout, time, cancellationToken))
        {
            try
            {
                await MessageIO.WriteAsync(stop.Output, connect, scope.Token).ConfigureAwait(false);
                reply = await MessageIO.ReadStopAsync(stop.Input, scope.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is IOException || (ex is OperationCanceledException && scope.TimedOut))
            {
                throw RelayException.From(ex, "stop");
            }
        }

        if (!reply.HasType || reply.Type != StopMessage.Types.Type.Status)
        {
            throw RelayException.ProtocolViolation(RelayStatus.UnexpectedMessage, "stop: the target answered with a non-STATUS message");
        }

        RelayStatus? status = MessageIO.FromWire(reply.Status);
        if (status is null)
        {
            throw RelayException.ProtocolViolation(RelayStatus.MalformedMessage, $"stop: the target answered with unknown status {(int)reply.Status}");
        }

        if (status != RelayStatus.Ok)
        {
            throw RelayException.FromStatus(status.Value, "stop");
        }
    }
}
