namespace CircuitRelay.AutoRelay;

/// <summary>Where a relay signal came from.</summary>
public enum RelaySourceKind
{
    /// <summary>The operator's candidate list: trusted.</summary>
    Configured,

    /// <summary>A signed advert gossiped by a peer (<see cref="RelaySource.Via"/>).</summary>
    Gossip,

    /// <summary>Unsigned capability metadata carried by a network's own address gossip, from a peer (<see cref="RelaySource.Via"/>).</summary>
    Metadata,

    /// <summary>A connected peer whose Identify lists the hop protocol.</summary>
    Identify,

    /// <summary>Our own reservation on the relay succeeded.</summary>
    Reservation,
}

/// <summary>One source of a relay signal: its kind and, for gossip and metadata, the peer that passed it on.</summary>
/// <param name="Kind">The kind of source.</param>
/// <param name="Via">The peer that gossiped it; <see langword="null"/> for configured, Identify and reservation sources.</param>
public readonly record struct RelaySource(RelaySourceKind Kind, PeerId? Via = null);
