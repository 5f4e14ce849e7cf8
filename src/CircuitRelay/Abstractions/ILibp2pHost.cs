namespace CircuitRelay.Abstractions;

/// <summary>
/// Handles an inbound stream for a registered protocol. The handler owns the stream.
/// </summary>
/// <param name="stream">The negotiated stream.</param>
/// <param name="cancellationToken">Signalled when the host shuts down.</param>
public delegate Task StreamHandler(ILibp2pStream stream, CancellationToken cancellationToken);

/// <summary>Options for <see cref="ILibp2pHost.OpenStreamAsync"/>.</summary>
public sealed class OpenStreamOptions
{
    /// <summary>Only use an existing connection; never dial. The relay opens stop streams this way.</summary>
    public bool ExistingConnectionOnly { get; init; }

    /// <summary>Addresses the host may dial when it has no connection to the peer.</summary>
    public IReadOnlyList<Multiaddr> DialAddresses { get; init; } = [];

    /// <summary>Whether the stream may be opened on a limited (relayed, limited) connection.</summary>
    public bool AllowLimitedConnection { get; init; }

    /// <summary>
    /// Open the stream on this connection (matched by <see cref="ConnectionInfo.Id"/>) and no other; never dial. An
    /// AutoNAT v2 dial-back must travel on the connection it just dialed, not on one the peer opened before.
    /// </summary>
    public ConnectionInfo? Connection { get; init; }
}

/// <summary>Options for <see cref="ILibp2pHost.SetStreamHandler"/>.</summary>
public sealed class StreamHandlerOptions
{
    /// <summary>Whether the protocol accepts streams on limited (relayed, limited) connections.
    /// Circuit relay's stop protocol does; most application protocols do not.</summary>
    public bool AllowLimitedConnection { get; init; }
}

/// <summary>A connection opened or closed, as reported by <see cref="ILibp2pHost"/>.</summary>
public sealed class ConnectionEventArgs(ConnectionInfo connection) : EventArgs
{
    /// <summary>The connection.</summary>
    public ConnectionInfo Connection { get; } = connection;
}

/// <summary>
/// What a libp2p host provides to the relay: streams, protocol handlers, identity, addresses and
/// connection events. The relay code knows no concrete host.
/// </summary>
/// <remarks>
/// Host implementers: streams are negotiated (multistream-select or equivalent) before they are
/// returned or handed to a handler. Raise <see cref="ConnectionClosed"/> for every connection that
/// ends, so the relay can drop reservations and circuits of peers that left.
/// </remarks>
public interface ILibp2pHost
{
    /// <summary>The local identity.</summary>
    ILocalIdentity Identity { get; }

    /// <summary>The verifier for remote signatures (vouchers).</summary>
    ISignatureVerifier SignatureVerifier { get; }

    /// <summary>
    /// The addresses other peers can use to reach this node (listen addresses and confirmed external
    /// addresses), without the trailing <c>/p2p/&lt;id&gt;</c>.
    /// </summary>
    IReadOnlyList<Multiaddr> Addresses { get; }

    /// <summary>Opens a stream to <paramref name="peer"/> and negotiates <paramref name="protocol"/>.</summary>
    /// <exception cref="IOException">The peer is unreachable or refused the protocol.</exception>
    ValueTask<ILibp2pStream> OpenStreamAsync(PeerId peer, string protocol, OpenStreamOptions? options = null, CancellationToken cancellationToken = default);

    /// <summary>Registers (or replaces) the handler for inbound streams of <paramref name="protocol"/>.</summary>
    void SetStreamHandler(string protocol, StreamHandler handler, StreamHandlerOptions? options = null);

    /// <summary>Removes the handler for <paramref name="protocol"/>; later streams are refused.</summary>
    void RemoveStreamHandler(string protocol);

    /// <summary>The live connections to <paramref name="peer"/> (empty when none).</summary>
    IReadOnlyList<ConnectionInfo> GetConnections(PeerId peer);

    /// <summary>Raised after a connection is established and authenticated.</summary>
    event EventHandler<ConnectionEventArgs>? ConnectionOpened;

    /// <summary>Raised after a connection closed, for whatever reason.</summary>
    event EventHandler<ConnectionEventArgs>? ConnectionClosed;

    /// <summary>
    /// Returns the feature interface <typeparamref name="TFeature"/> (<see cref="IDialFeature"/>,
    /// <see cref="IAddressesFeature"/>, <see cref="IPeerStoreFeature"/>, <see cref="IInboundGateFeature"/>,
    /// <see cref="IConnectionsFeature"/>, <see cref="IListenFeature"/>) when the host provides it, else
    /// <see langword="null"/>. By default a host provides the features it implements itself.
    /// </summary>
    TFeature? GetFeature<TFeature>()
        where TFeature : class => this as TFeature;
}
