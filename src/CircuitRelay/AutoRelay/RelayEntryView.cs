namespace CircuitRelay.AutoRelay;

/// <summary>A live address-book entry as the pool reads it in place (see <see cref="RelayAddressBook.FillLiveViews"/>).</summary>
internal readonly record struct RelayEntryView(
    PeerId Relay,
    IReadOnlyList<Multiaddr> Addresses,
    int PublicAddressCount,
    int SourceCount,
    bool IsConfigured,
    DateTimeOffset FirstSeen,
    uint Capacity,
    uint Reservations);
