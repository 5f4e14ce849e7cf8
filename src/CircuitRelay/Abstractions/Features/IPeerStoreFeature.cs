namespace CircuitRelay.Abstractions;

/// <summary>
/// A host feature: what the node knows of other peers (their protocols and listen addresses, as Identify reports
/// them), and an event when a peer is identified. Identify writes it; AutoRelay, AutoNAT and DCUtR read it.
/// </summary>
public interface IPeerStoreFeature
{
    /// <summary>What is known of <paramref name="peer"/>, or <see langword="null"/> when it was never identified.</summary>
    PeerRecord? GetPeer(PeerId peer);

    /// <summary>Stores what a peer said of itself (replaces the earlier record) and raises <see cref="PeerIdentified"/>.</summary>
    void UpdatePeer(PeerRecord record);

    /// <summary>Raised after a peer's record was stored or replaced.</summary>
    event EventHandler<PeerIdentifiedEventArgs>? PeerIdentified;
}

/// <summary>What a peer said of itself (Identify).</summary>
public sealed class PeerRecord
{
    /// <summary>Creates a record.</summary>
    public PeerRecord(PeerId peer, IReadOnlyList<string> protocols, IReadOnlyList<Multiaddr> listenAddresses)
    {
        ArgumentNullException.ThrowIfNull(peer);
        ArgumentNullException.ThrowIfNull(protocols);
        ArgumentNullException.ThrowIfNull(listenAddresses);
        Peer = peer;
        Protocols = protocols;
        ListenAddresses = listenAddresses;
    }

    /// <summary>The peer.</summary>
    public PeerId Peer { get; }

    /// <summary>The protocols it serves.</summary>
    public IReadOnlyList<string> Protocols { get; }

    /// <summary>The addresses it listens on, without <c>/p2p/&lt;id&gt;</c>.</summary>
    public IReadOnlyList<Multiaddr> ListenAddresses { get; }

    /// <summary>Its agent version, when it sent one.</summary>
    public string? AgentVersion { get; init; }

    /// <summary>Its protocol version, when it sent one.</summary>
    public string? ProtocolVersion { get; init; }

    /// <summary>Whether it serves <paramref name="protocol"/>.</summary>
    public bool Supports(string protocol) => Protocols.Contains(protocol, StringComparer.Ordinal);
}

/// <summary>A peer was identified (see <see cref="IPeerStoreFeature.PeerIdentified"/>).</summary>
public sealed class PeerIdentifiedEventArgs(PeerRecord record) : EventArgs
{
    /// <summary>The stored record.</summary>
    public PeerRecord Record { get; } = record;
}
