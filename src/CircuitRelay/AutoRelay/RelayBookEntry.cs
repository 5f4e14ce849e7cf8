using CircuitRelay.Adverts;

namespace CircuitRelay.AutoRelay;

/// <summary>What the address book knows of one relay, merged from every source (a snapshot; the book keeps its own).</summary>
public sealed class RelayBookEntry
{
    internal RelayBookEntry(
        PeerId relay,
        IReadOnlyList<Multiaddr> addresses,
        SignedRelayAdvert? advert,
        RelayAdvert? unsignedAdvert,
        IReadOnlyCollection<RelaySource> sources,
        DateTimeOffset firstSeen,
        DateTimeOffset lastSeen,
        int reservationSuccesses,
        int reservationFailures)
    {
        Relay = relay;
        Addresses = addresses;
        Advert = advert;
        UnsignedAdvert = unsignedAdvert;
        Sources = sources;
        FirstSeen = firstSeen;
        LastSeen = lastSeen;
        ReservationSuccesses = reservationSuccesses;
        ReservationFailures = reservationFailures;
    }

    /// <summary>The relay's peer id.</summary>
    public PeerId Relay { get; }

    /// <summary>The addresses to reach it at (the newest advert's when there is one), without <c>/p2p/&lt;id&gt;</c>.</summary>
    public IReadOnlyList<Multiaddr> Addresses { get; }

    /// <summary>The newest valid signed advert, if any.</summary>
    public SignedRelayAdvert? Advert { get; }

    /// <summary>The newest unsigned advert from capability metadata, if any (weaker than <see cref="Advert"/>).</summary>
    public RelayAdvert? UnsignedAdvert { get; }

    /// <summary>The distinct sources that reported the relay (each gossiping peer counts once).</summary>
    public IReadOnlyCollection<RelaySource> Sources { get; }

    /// <summary>How many distinct sources reported the relay.</summary>
    public int SourceCount => Sources.Count;

    /// <summary>Whether the operator configured the relay (trusted, never expires).</summary>
    public bool IsConfigured => Sources.Any(s => s.Kind == RelaySourceKind.Configured);

    /// <summary>When the book first heard of the relay.</summary>
    public DateTimeOffset FirstSeen { get; }

    /// <summary>When a source last reported it.</summary>
    public DateTimeOffset LastSeen { get; }

    /// <summary>Our reservations on it that succeeded.</summary>
    public int ReservationSuccesses { get; }

    /// <summary>Our reservations on it that failed.</summary>
    public int ReservationFailures { get; }
}
