using System.Threading.Channels;
using CircuitRelay.Client;
using CircuitRelay.Abstractions;
using CircuitRelay.Internal;
using CircuitRelay.Protocol;

namespace CircuitRelay.Transport;

/// <summary>
/// Receives relayed connections through one relay, on which it holds (and renews) a reservation.
/// Follows the Kestrel/QUIC listener contract: a bounded accept backlog (circuits beyond it are refused
/// with RESOURCE_LIMIT_EXCEEDED, circuits nobody accepts in time with CONNECTION_FAILED),
/// <see cref="AcceptAsync"/> returns <see langword="null"/> once the listener is disposed, and disposal
/// is idempotent and refuses the circuits still waiting.
/// </summary>
/// <remarks>
/// As an <see cref="ITransportListener"/> its addresses are <see cref="ListenAddresses"/>; a host that listens through
/// it (<c>IListenFeature</c>) runs the accept loop and upgrades each circuit.
/// </remarks>
public sealed class CircuitListener : ITransportListener
{
    private readonly RelayClient _client;
    private readonly Channel<PendingCircuit> _backlog = Channel.CreateUnbounded<PendingCircuit>();
    private readonly Multiaddr _listenAddress;
    private RelayReservation? _reservation;
    private int _waiting;
    private int _disposed;

    internal CircuitListener(RelayClient client, PeerId relay, Multiaddr listenAddress)
    {
        _client = client;
        Relay = relay;
        _listenAddress = listenAddress;
    }

    /// <summary>The relay this listener receives circuits through.</summary>
    public PeerId Relay { get; }

    /// <summary>The reservation that makes this listener reachable.</summary>
    public RelayReservation Reservation => _reservation ?? throw new InvalidOperationException("The listener has no reservation yet.");

    /// <summary>
    /// The addresses to advertise, each <c>&lt;relay addr&gt;/p2p/&lt;relay&gt;/p2p-circuit</c> (append
    /// <c>/p2p/&lt;own id&gt;</c> when sharing them). Falls back to the address listened on when the
    /// relay announced no address.
    /// </summary>
    public IReadOnlyList<Multiaddr> ListenAddresses
    {
        get
        {
            IReadOnlyList<Multiaddr> fromRelay = _reservation?.CircuitAddresses ?? [];
            return fromRelay.Count > 0 ? fromRelay : [_listenAddress];
        }
    }

    /// <inheritdoc />
    IReadOnlyList<Multiaddr> ITransportListener.Addresses => ListenAddresses;

    /// <summary>Incoming circuits waiting to be accepted.</summary>
    public int Backlog => Volatile.Read(ref _waiting);

    /// <summary>
    /// Waits for the next incoming circuit, answers the relay OK and returns the connection; returns
    /// <see langword="null"/> once the listener is disposed.
    /// </summary>
    public async ValueTask<RelayedConnection?> AcceptAsync(CancellationToken cancellationToken = default)
    {
        while (true)
        {
            if (!await _backlog.Reader.WaitToReadAsync(cancellationToken).ConfigureAwait(false))
            {
                return null;
            }

            if (!_backlog.Reader.TryRead(out PendingCircuit? pending) || !pending.TryClaim())
            {
                // Someone else took it, or it timed out while waiting.
                continue;
            }

            Interlocked.Decrement(ref _waiting);
            try
            {
                using var timeout = new TimeoutScope(_client.Options.StopTimeout, _client.Time, cancellationToken);
                await MessageIO.WriteAsync(pending.Stream.Output, MessageIO.StopStatus(RelayStatus.Ok), timeout.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is IOException or OperationCanceledException)
            {
                pending.Settle(false);
                pending.Stream.Abort();
                await pending.Stream.DisposeAsync().ConfigureAwait(false);
                cancellationToken.ThrowIfCancellationRequested();
                continue;
            }

            pending.Settle(true);
            _client.Metrics.Incoming.Add(1, Diagnostics.RelayMetrics.StatusTag(RelayStatus.Ok));
            Diagnostics.RelayLog.StopAccepted(_client.Logger, Relay, pending.Source);
            return new RelayedConnection(pending.Stream, pending.Relay, pending.Source, pending.Limit, ConnectionDirection.Inbound, pending.RemoteAddress);
        }
    }

    /// <inheritdoc />
    async ValueTask<ITransportConnection?> ITransportListener.AcceptAsync(CancellationToken cancellationToken)
        => await AcceptAsync(cancellationToken).ConfigureAwait(false);

    /// <summary>Stops listening: refuses waiting circuits, completes pending accepts with null, stops renewing the reservation.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        _client.UnregisterListener(this);
        _backlog.Writer.TryComplete();
        while (_backlog.Reader.TryRead(out PendingCircuit? pending))
        {
            if (pending.TryClaim())
            {
                Interlocked.Decrement(ref _waiting);
                pending.Settle(false);
                await InboundStop.RefuseAsync(_client, pending.Stream, Relay, pending.Source, RelayStatus.ConnectionFailed, "the listener closed").ConfigureAwait(false);
            }
        }

        if (_reservation is not null)
        {
            await _reservation.DisposeAsync().ConfigureAwait(false);
        }
    }

    internal void SetReservation(RelayReservation reservation) => _reservation = reservation;

    /// <summary>Queues an incoming circuit; the status says why it was not queued.</summary>
    internal RelayStatus TryEnqueue(PendingCircuit pending)
    {
        if (Volatile.Read(ref _disposed) != 0)
        {
            return RelayStatus.ConnectionFailed;
        }

        if (Interlocked.Increment(ref _waiting) > _client.Options.AcceptBacklog)
        {
            Interlocked.Decrement(ref _waiting);
            return RelayStatus.ResourceLimitExceeded;
        }

        if (!_backlog.Writer.TryWrite(pending))
        {
            Interlocked.Decrement(ref _waiting);
            return RelayStatus.ConnectionFailed;
        }

        return RelayStatus.Ok;
    }

    /// <summary>A queued circuit timed out before anyone accepted it.</summary>
    internal void OnAbandoned() => Interlocked.Decrement(ref _waiting);
}
