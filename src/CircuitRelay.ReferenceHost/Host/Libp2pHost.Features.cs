using System.Collections.Concurrent;
using CircuitRelay.Abstractions;

namespace CircuitRelay.ReferenceHost;

/// <content>The peer store and the inbound gates.</content>
public sealed partial class Libp2pHost
{
    /// <summary>Above this many records, records of peers without a connection are swept (a flood of peers stays bounded).</summary>
    private const int PeerRecordSweepThreshold = 10_000;

    private readonly ConcurrentDictionary<PeerId, PeerRecord> _peers = new();
    private IInboundGate[] _gates = [];

    /// <inheritdoc />
    public event EventHandler<PeerIdentifiedEventArgs>? PeerIdentified;

    /// <inheritdoc />
    public PeerRecord? GetPeer(PeerId peer)
    {
        ArgumentNullException.ThrowIfNull(peer);
        return _peers.GetValueOrDefault(peer);
    }

    /// <inheritdoc />
    /// <remarks>
    /// A record lives while its peer has a connection: it is dropped when the last one closes. A record stored for a
    /// peer without a connection (addresses the application knows) stays until that peer connects and leaves; past
    /// 10,000 records those are swept, so the store stays bounded whatever peers send.
    /// </remarks>
    public void UpdatePeer(PeerRecord record)
    {
        ArgumentNullException.ThrowIfNull(record);
        _peers[record.Peer] = record;
        if (_peers.Count > PeerRecordSweepThreshold)
        {
            SweepPeerRecords();
        }

        PeerIdentified?.Invoke(this, new PeerIdentifiedEventArgs(record));
    }

    /// <summary>Drops the records of peers that have no connection.</summary>
    private void SweepPeerRecords()
    {
        HashSet<PeerId> connected;
        lock (_lock)
        {
            connected = [.. _connections.Select(c => c.Info.RemotePeer)];
        }

        foreach (PeerId peer in _peers.Keys)
        {
            if (!connected.Contains(peer))
            {
                _peers.TryRemove(peer, out _);
            }
        }
    }

    /// <inheritdoc />
    public IDisposable AddGate(IInboundGate gate)
    {
        ArgumentNullException.ThrowIfNull(gate);
        lock (_lock)
        {
            _gates = [.. _gates, gate];
        }

        return new GateRegistration(this, gate);
    }

    /// <inheritdoc />
    /// <remarks>A gate that throws denies (reason <c>gate-failed</c>); the failure is logged.</remarks>
    public InboundDecision Check(InboundAttempt attempt)
    {
        ArgumentNullException.ThrowIfNull(attempt);
        foreach (IInboundGate gate in Volatile.Read(ref _gates))
        {
            InboundDecision decision;
            try
            {
                decision = gate.Check(attempt);
            }
#pragma warning disable CA1031 // A broken gate denies; it must not break the accept loop.
            catch (Exception ex)
#pragma warning restore CA1031
            {
                Log.GateFailed(_logger, attempt.Stage, attempt.RemoteAddress, ex);
                return InboundDecision.Deny("gate-failed");
            }

            if (!decision.IsAllowed)
            {
                return decision;
            }
        }

        return InboundDecision.Allow;
    }

    private void RemoveGate(IInboundGate gate)
    {
        lock (_lock)
        {
            int index = Array.IndexOf(_gates, gate);
            if (index >= 0)
            {
                _gates = [.. _gates[..index], .. _gates[(index + 1)..]];
            }
        }
    }

    private sealed class GateRegistration(Libp2pHost host, IInboundGate gate) : IDisposable
    {
        private int _disposed;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 0)
            {
                host.RemoveGate(gate);
            }
        }
    }
}
