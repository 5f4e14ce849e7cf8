namespace CircuitRelay.Abstractions;

/// <summary>
/// A host feature: connections the host must keep although they carry no stream (go-libp2p's connection manager
/// <c>Protect</c>). A host that closes idle inbound connections, or trims them when full, leaves a protected peer's alone.
/// </summary>
/// <remarks>The relay server protects the connections of peers holding a reservation: a reservation has no stream open between renewals.</remarks>
public interface IConnectionManagerFeature
{
    /// <summary>Protects the connections to <paramref name="peer"/> under <paramref name="tag"/> (a peer stays protected while any tag holds).</summary>
    void Protect(PeerId peer, string tag);

    /// <summary>Removes <paramref name="tag"/>; returns whether the peer is still protected by another tag.</summary>
    bool Unprotect(PeerId peer, string tag);

    /// <summary>Whether <paramref name="peer"/> is protected under any tag.</summary>
    bool IsProtected(PeerId peer);
}
