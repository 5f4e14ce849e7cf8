using System.IO.Pipelines;

namespace CircuitRelay.Abstractions;

/// <summary>
/// A raw connection from a transport, before security and muxing: a duplex byte pipe plus what the transport
/// knows about its ends.
/// </summary>
/// <remarks>
/// Ownership follows the Kestrel connection model: completing <see cref="IDuplexPipe.Output"/> half-closes,
/// <see cref="Abort"/> resets (the remote's reads fail), <see cref="IAsyncDisposable.DisposeAsync"/> closes
/// gracefully and is idempotent and safe after <see cref="Abort"/>.
/// </remarks>
public interface ITransportConnection : IDuplexPipe, IAsyncDisposable
{
    /// <summary>Which side dialed: the outbound side is the security handshake's initiator unless a dial fixes the role.</summary>
    ConnectionDirection Direction { get; }

    /// <summary>
    /// The remote address (for TCP the socket's remote end; for a relayed connection
    /// <c>&lt;relay addr&gt;/p2p/&lt;relay&gt;/p2p-circuit/p2p/&lt;remote&gt;</c>).
    /// </summary>
    Multiaddr RemoteAddress { get; }

    /// <summary>The local address of the connection, when the transport knows it.</summary>
    Multiaddr? LocalAddress { get; }

    /// <summary>
    /// The remote peer as the transport was told it before any authentication (a relay names the source of a
    /// circuit); <see langword="null"/> when unknown. The security handshake must confirm it.
    /// </summary>
    PeerId? ClaimedRemotePeer { get; }

    /// <summary>The relay a relayed connection runs through; <see langword="null"/> for a direct connection.</summary>
    PeerId? Relay { get; }

    /// <summary>The relay's limit on a relayed connection; <see langword="null"/> when unlimited or direct.</summary>
    RelayLimit? Limit { get; }

    /// <summary>Resets the connection: both directions fail at once, buffered data may be dropped.</summary>
    void Abort();
}
