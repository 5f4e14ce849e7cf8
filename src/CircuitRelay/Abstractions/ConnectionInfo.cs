namespace CircuitRelay.Abstractions;

/// <summary>Which side opened a connection.</summary>
public enum ConnectionDirection
{
    /// <summary>The local node dialed.</summary>
    Outbound,

    /// <summary>The remote node dialed.</summary>
    Inbound,
}

/// <summary>
/// What the host knows about the connection a stream rides on. Hosts create one per connection and
/// pass the same instance with every stream of that connection.
/// </summary>
public sealed class ConnectionInfo
{
    /// <summary>Creates the description of a connection.</summary>
    /// <param name="id">A host-unique id for the connection (for logs and bookkeeping).</param>
    /// <param name="remotePeer">The authenticated remote peer.</param>
    /// <param name="remoteAddress">The remote address; a relayed connection's contains <c>/p2p-circuit</c>.</param>
    /// <param name="direction">Which side dialed.</param>
    public ConnectionInfo(string id, PeerId remotePeer, Multiaddr remoteAddress, ConnectionDirection direction)
    {
        ArgumentNullException.ThrowIfNull(id);
        ArgumentNullException.ThrowIfNull(remotePeer);
        ArgumentNullException.ThrowIfNull(remoteAddress);
        Id = id;
        RemotePeer = remotePeer;
        RemoteAddress = remoteAddress;
        Direction = direction;
    }

    /// <summary>A host-unique id for the connection.</summary>
    public string Id { get; }

    /// <summary>The authenticated remote peer.</summary>
    public PeerId RemotePeer { get; }

    /// <summary>The remote address (for TCP, the socket's remote end; for a relayed connection,
    /// <c>&lt;relay addr&gt;/p2p/&lt;relay&gt;/p2p-circuit</c>).</summary>
    public Multiaddr RemoteAddress { get; }

    /// <summary>The local address of the connection, when known.</summary>
    public Multiaddr? LocalAddress { get; init; }

    /// <summary>Which side dialed.</summary>
    public ConnectionDirection Direction { get; }

    /// <summary>Whether the connection runs over a relay (a <c>/p2p-circuit</c> connection).</summary>
    public bool IsRelayed { get; init; }

    /// <summary>The relay's limit for a relayed connection; <see langword="null"/> when unlimited.</summary>
    public RelayLimit? Limit { get; init; }

    /// <summary>Cancelled when the connection ends (for whatever reason). Hosts set it; <see cref="CancellationToken.None"/> when a host does not track it.</summary>
    public CancellationToken Closed { get; init; }

    /// <summary>The relay a relayed connection runs through; <see langword="null"/> for a direct connection.</summary>
    public PeerId? Relay { get; init; }

    /// <summary>Whether the connection is limited (relayed with a limit), as go and js call "limited" or "transient".</summary>
    public bool IsLimited => IsRelayed && Limit is not null;

    /// <inheritdoc />
    public override string ToString() => $"{Id} {Direction} {RemotePeer} {RemoteAddress}";
}
