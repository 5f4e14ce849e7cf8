namespace CircuitRelay.AutoRelay;

/// <summary>Options of <see cref="RelayAddressBook"/>.</summary>
public sealed class RelayAddressBookOptions
{
    /// <summary>The most relays the book holds. Default 10,000.</summary>
    public int MaxEntries { get; set; } = 10_000;

    /// <summary>
    /// The most relays one gossiping peer may bring into the book (as the only source). Default 64: a peer that floods
    /// fake adverts fills at most this many places, so good relays keep theirs.
    /// </summary>
    public int MaxEntriesPerGossipPeer { get; set; } = 64;

    /// <summary>
    /// How long a relay known without a valid advert (from Identify, unsigned metadata or our own reservation) stays
    /// after it was last seen. Configured relays never expire. Default 1 hour.
    /// </summary>
    public TimeSpan UnadvertisedTtl { get; set; } = TimeSpan.FromHours(1);

    /// <summary>Throws <see cref="ArgumentException"/> naming the option that is invalid.</summary>
    public void Validate()
    {
        if (MaxEntries < 1)
        {
            throw new ArgumentException($"MaxEntries is {MaxEntries}; it must be at least 1.", nameof(MaxEntries));
        }

        if (MaxEntriesPerGossipPeer < 1)
        {
            throw new ArgumentException($"MaxEntriesPerGossipPeer is {MaxEntriesPerGossipPeer}; it must be at least 1.", nameof(MaxEntriesPerGossipPeer));
        }

        if (UnadvertisedTtl <= TimeSpan.Zero)
        {
            throw new ArgumentException($"UnadvertisedTtl is {UnadvertisedTtl}; it must be positive.", nameof(UnadvertisedTtl));
        }
    }
}
