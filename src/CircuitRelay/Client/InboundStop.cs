using CircuitRelay.Diagnostics;
using CircuitRelay.Abstractions;
using CircuitRelay.Internal;
using CircuitRelay.Protocol;
using CircuitRelay.Protocol.Pb;
using CircuitRelay.Transport;

namespace CircuitRelay.Client;

/// <summary>
/// The target side of the stop protocol: validates the relay's CONNECT and hands the stream to the
/// listener for that relay, which answers OK when the application accepts it.
/// </summary>
internal static class InboundStop
{
    public static async Task HandleAsync(RelayClient client, ILibp2pStream stream)
    {
        await Task.Yield();
        PeerId relay = stream.Connection.RemotePeer;
        StopMessage request;
        using (var timeout = new TimeoutScope(client.Options.StopTimeout, client.Time, client.ShutdownToken))
        {
            try
            {
                request = await MessageIO.ReadStopAsync(stream.Input, timeout.Token).ConfigureAwait(false);
            }
            catch (ProtocolViolationException ex)
            {
                await RefuseAsync(client, stream, relay, null, ex.Status, ex.Message).ConfigureAwait(false);
                return;
            }
            catch (Exception ex) when (ex is IOException or OperationCanceledException)
            {
                RelayLog.StopFailed(client.Logger, relay, ex);
                stream.Abort();
                await stream.DisposeAsync().ConfigureAwait(false);
                return;
            }
        }

        StopMessage.Types.Type type = request.HasType ? request.Type : StopMessage.Types.Type.Connect;
        if (!MessageIO.IsDefined(type))
        {
            await RefuseAsync(client, stream, relay, null, RelayStatus.MalformedMessage, $"unknown message type {(int)type}").ConfigureAwait(false);
            return;
        }

        if (type != StopMessage.Types.Type.Connect)
        {
            await RefuseAsync(client, stream, relay, null, RelayStatus.UnexpectedMessage, "expected CONNECT").ConfigureAwait(false);
            return;
        }

        if (request.Peer is not { HasId: true } peer || !PeerId.TryFromBytes(peer.Id.Span, out PeerId? source))
        {
            await RefuseAsync(client, stream, relay, null, RelayStatus.MalformedMessage, "missing or invalid source peer id").ConfigureAwait(false);
            return;
        }

        bool reserved = client.HasReservation(relay);
        if (!reserved)
        {
            // As rust-libp2p does: circuits only through relays we hold a reservation on, unless a cap lets a few through.
            int cap = client.Options.UnknownRelayCap;
            int open = cap > 0 ? client.CircuitsThroughUnknownRelays() : 0;
            if (cap == 0 || open >= cap)
            {
                string reason = cap == 0 ? "no reservation on this relay" : $"no reservation on this relay, and {open} circuits through such relays already (UnknownRelayCap {cap})";
                await RefuseAsync(client, stream, relay, source, RelayStatus.NoReservation, reason).ConfigureAwait(false);
                return;
            }
        }

        CircuitListener? listener = reserved ? client.FindListener(relay) : client.AnyListener();
        if (listener is null)
        {
            await RefuseAsync(client, stream, relay, source, RelayStatus.ConnectionFailed, "nobody listens through this relay").ConfigureAwait(false);
            return;
        }

        RelayLimit? limit = MessageIO.FromWire(request.Limit);
        Multiaddr remote = Multiaddr.CreateCircuit(stream.Connection.RemoteAddress.IsRelayed ? Multiaddr.Empty : stream.Connection.RemoteAddress, relay, source);
        if (client.Host.GetFeature<IInboundGateFeature>() is { } gates
            && gates.Check(new InboundAttempt(InboundStage.Circuit, remote) { RemotePeer = source, Relay = relay }) is { IsAllowed: false } denied)
        {
            await RefuseAsync(client, stream, relay, source, denied.Status, denied.Reason ?? "refused by an inbound gate").ConfigureAwait(false);
            return;
        }

        // The accept timer is armed before the circuit is queued, so whoever sees it queued sees its timer running.
        using var acceptTimeout = new TimeoutScope(client.Options.AcceptTimeout, client.Time, client.ShutdownToken);
        var pending = new PendingCircuit(stream, relay, source, limit, remote);
        RelayStatus queued = listener.TryEnqueue(pending);
        if (queued != RelayStatus.Ok)
        {
            await RefuseAsync(client, stream, relay, source, queued, queued == RelayStatus.ResourceLimitExceeded ? "the accept backlog is full" : "the listener closed").ConfigureAwait(false);
            return;
        }

        // Wait for AcceptAsync to take it (it answers OK), or refuse when nobody does in time.
        bool accepted = await pending.WaitAsync(acceptTimeout.Token).ConfigureAwait(false);
        if (!accepted && pending.TryClaim())
        {
            listener.OnAbandoned();
            await RefuseAsync(client, stream, relay, source, RelayStatus.ConnectionFailed, "not accepted in time").ConfigureAwait(false);
        }
    }

    internal static async Task RefuseAsync(RelayClient client, ILibp2pStream stream, PeerId relay, PeerId? source, RelayStatus status, string reason)
    {
        RelayLog.StopRefused(client.Logger, relay, source, status, reason);
        client.Metrics.Incoming.Add(1, RelayMetrics.StatusTag(status));
        try
        {
            using var timeout = new TimeoutScope(client.Options.StopTimeout, client.Time, CancellationToken.None);
            await MessageIO.WriteAsync(stream.Output, MessageIO.StopStatus(status), timeout.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException)
        {
            stream.Abort();
        }

        await stream.DisposeAsync().ConfigureAwait(false);
    }
}
