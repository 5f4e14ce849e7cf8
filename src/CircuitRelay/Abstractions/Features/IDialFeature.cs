namespace CircuitRelay.Abstractions;

/// <summary>A host feature: dial an address and get an upgraded (secured, muxed) connection.</summary>
/// <remarks>Ask for it with <see cref="HostFeatures.GetRequiredFeature{TFeature}"/>. DCUtR and AutoNAT dial-backs need the options.</remarks>
public interface IDialFeature
{
    /// <summary>
    /// Connects to <paramref name="address"/> (ending in <c>/p2p/&lt;id&gt;</c>, or a <c>/p2p-circuit</c> address; a direct
    /// address without a peer id with <see cref="DialOptions.AllowUnknownPeer"/>) through
    /// the first transport that can dial it, and upgrades the connection. Returns an existing connection to the
    /// peer unless <see cref="DialOptions.ForceNewConnection"/> is set.
    /// </summary>
    /// <exception cref="IOException">The peer is unreachable, or the upgrade failed.</exception>
    /// <exception cref="TimeoutException">The dial or the upgrade took longer than the host allows.</exception>
    ValueTask<ConnectionInfo> DialAsync(Multiaddr address, DialOptions? options = null, CancellationToken cancellationToken = default);
}

/// <summary>How <see cref="IDialFeature.DialAsync"/> dials.</summary>
public sealed class DialOptions
{
    /// <summary>Open a new connection even when one to the peer exists (AutoNAT dial-backs, hole punches).</summary>
    public bool ForceNewConnection { get; init; }

    /// <summary>Dial from the listen port (see <see cref="TransportDialOptions.ReuseListenPort"/>).</summary>
    public bool ReuseListenPort { get; init; }

    /// <summary>
    /// The role this side takes in the security and muxer handshakes; <see langword="null"/> means the dialer
    /// initiates. A hole punch fixes it, because both sides dial at once.
    /// </summary>
    public UpgradeRole? Role { get; init; }

    /// <summary>
    /// Dial a direct address that names no peer (<c>/ip4/…/tcp/…</c> without <c>/p2p/&lt;id&gt;</c>) and accept whoever
    /// authenticates in the secure handshake: a probe that learns a peer's id (AutoRelay does it for candidates known
    /// only by address). Always a new connection; dialing the host itself still fails.
    /// </summary>
    public bool AllowUnknownPeer { get; init; }
}

/// <summary>The side a node takes in a connection's security and muxer handshakes.</summary>
public enum UpgradeRole
{
    /// <summary>Starts the handshakes (Noise initiator, Yamux client).</summary>
    Initiator,

    /// <summary>Answers the handshakes (Noise responder, Yamux server).</summary>
    Responder,
}
