namespace CircuitRelay.Abstractions;

/// <summary>
/// A way to carry raw bytes between two nodes: TCP, an in-process network, or a relay circuit. The host asks
/// each of its transports whether it can dial or listen on an address, then upgrades what the transport
/// returns (security, then muxer) like any other connection. The shape follows Kestrel's
/// <c>IConnectionFactory</c> / <c>IConnectionListenerFactory</c>.
/// </summary>
/// <remarks>
/// Transport implementers: <see cref="DialAsync"/> and <see cref="ListenAsync"/> throw
/// <see cref="IOException"/> (or a subclass) when the network fails, and <see cref="ArgumentException"/> only
/// for an address that <see cref="CanDial"/> or <see cref="CanListen"/> would have refused.
/// </remarks>
public interface ITransport
{
    /// <summary>A short name for logs and metrics (<c>tcp</c>, <c>memory</c>, <c>p2p-circuit</c>).</summary>
    string Name { get; }

    /// <summary>Whether this transport can dial <paramref name="address"/>.</summary>
    bool CanDial(Multiaddr address);

    /// <summary>Whether this transport can listen on <paramref name="address"/>.</summary>
    bool CanListen(Multiaddr address);

    /// <summary>Opens a raw connection to <paramref name="address"/>.</summary>
    /// <param name="address">The address to dial, with or without a trailing <c>/p2p/&lt;id&gt;</c>.</param>
    /// <param name="options">How to dial; <see langword="null"/> for the defaults.</param>
    /// <param name="cancellationToken">Cancels the dial.</param>
    /// <exception cref="IOException">The remote is unreachable or refused.</exception>
    ValueTask<ITransportConnection> DialAsync(Multiaddr address, TransportDialOptions? options = null, CancellationToken cancellationToken = default);

    /// <summary>Starts listening on <paramref name="address"/>.</summary>
    /// <exception cref="IOException">The address cannot be bound (in use, not ours, refused by a relay).</exception>
    ValueTask<ITransportListener> ListenAsync(Multiaddr address, CancellationToken cancellationToken = default);
}
