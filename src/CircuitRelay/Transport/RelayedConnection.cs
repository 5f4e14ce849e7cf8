using System.IO.Pipelines;
using CircuitRelay.Abstractions;

namespace CircuitRelay.Transport;

/// <summary>
/// A raw connection through a relay: after the hop/stop handshake, the relay's stream carries the
/// two endpoints' bytes. Upgrade it (security, then muxer) like a raw TCP connection: the side that
/// dialed (<see cref="ConnectionDirection.Outbound"/>) is the initiator.
/// </summary>
/// <remarks>Completing <see cref="Output"/> half-closes; <see cref="Abort"/> resets; disposal is graceful and idempotent.</remarks>
public sealed class RelayedConnection : ITransportConnection
{
    private readonly ILibp2pStream _stream;

    internal RelayedConnection(ILibp2pStream stream, PeerId relay, PeerId remotePeer, RelayLimit? limit, ConnectionDirection direction, Multiaddr remoteAddress)
    {
        _stream = stream;
        Relay = relay;
        RemotePeer = remotePeer;
        Limit = limit;
        Direction = direction;
        RemoteAddress = remoteAddress;
    }

    /// <summary>The relay the connection runs through.</summary>
    public PeerId Relay { get; }

    /// <summary>The peer at the other end (as the relay named it; authenticate it during the upgrade).</summary>
    public PeerId RemotePeer { get; }

    /// <inheritdoc />
    /// <remarks>The same as <see cref="RemotePeer"/>: the peer the relay named.</remarks>
    public PeerId? ClaimedRemotePeer => RemotePeer;

    /// <inheritdoc />
    /// <remarks>Always <see langword="null"/>: a circuit has no local address of its own.</remarks>
    public Multiaddr? LocalAddress => null;

    /// <summary>The relay's limit on this connection, or null when unlimited.</summary>
    public RelayLimit? Limit { get; }

    /// <summary>Outbound for the dialer (the upgrade's initiator), inbound for the listener.</summary>
    public ConnectionDirection Direction { get; }

    /// <summary>The remote address: <c>&lt;relay addr&gt;/p2p/&lt;relay&gt;/p2p-circuit/p2p/&lt;remote&gt;</c>.</summary>
    public Multiaddr RemoteAddress { get; }

    /// <inheritdoc />
    public PipeReader Input => _stream.Input;

    /// <inheritdoc />
    public PipeWriter Output => _stream.Output;

    /// <summary>Resets the connection.</summary>
    public void Abort() => _stream.Abort();

    /// <summary>Closes the connection gracefully.</summary>
    public ValueTask DisposeAsync() => _stream.DisposeAsync();

    /// <inheritdoc />
    public override string ToString() => $"{Direction} {RemoteAddress}";
}
