using CircuitRelay.Adverts;

namespace CircuitRelay.AutoRelay;

/// <summary>
/// Relay signals merged per relay peer id from every source: the configured candidate list, gossiped adverts (and from
/// which peer), unsigned capability metadata, Identify (a connected peer that lists the hop protocol) and our own
/// reservation outcomes. It counts distinct sources, keeps the newest valid advert, expires stale entries, and is
/// bounded: one gossiping peer brings in at most <see cref="RelayAddressBookOptions.MaxEntriesPerGossipPeer"/> relays,
/// and a full book makes room only by evicting an entry that no trusted source backs (not configured, not identified,
/// never reserved), the one with the fewest sources and the oldest news first. So a flood of fake relays cannot push
/// out good ones.
/// </summary>
/// <remarks>Thread-safe. Every time comes from the injected <see cref="TimeProvider"/>; nothing is random.</remarks>
public sealed class RelayAddressBook
{
    private readonly RelayAddressBookOptions _options;
    private readonly TimeProvider _time;
    private readonly Lock _lock = new();
    private readonly Dictionary<PeerId, Entry> _entries = [];
    private readonly Dictionary<PeerId, int> _introducedBy = [];

    /// <summary>Creates an empty book.</summary>
    /// <exception cref="ArgumentException">An option is invalid (the message names it).</exception>
    public RelayAddressBook(RelayAddressBookOptions options, TimeProvider timeProvider)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(timeProvider);
        options.Validate();
        _options = options;
        _time = timeProvider;
    }

    /// <summary>How many relays the book holds.</summary>
    public int Count
    {
        get
        {
            lock (_lock)
            {
                return _entries.Count;
            }
        }
    }

    /// <summary>Adds or refreshes a configured (trusted) relay.</summary>
    public void AddConfigured(PeerId relay, IReadOnlyList<Multiaddr> addresses)
    {
        ArgumentNullException.ThrowIfNull(relay);
        ArgumentNullException.ThrowIfNull(addresses);
        lock (_lock)
        {
            Entry entry = GetOrCreateTrusted(relay);
            entry.MergeAddresses(addresses);
            entry.Touch(new RelaySource(RelaySourceKind.Configured), _time.GetUtcNow());
        }
    }

    /// <summary>Records that a connected peer lists the hop protocol in Identify (it serves as a relay).</summary>
    public void AddIdentified(PeerId relay, IReadOnlyList<Multiaddr> addresses)
    {
        ArgumentNullException.ThrowIfNull(relay);
        ArgumentNullException.ThrowIfNull(addresses);
        lock (_lock)
        {
            Entry entry = GetOrCreateTrusted(relay);
            entry.MergeAddresses(addresses);
            entry.Touch(new RelaySource(RelaySourceKind.Identify), _time.GetUtcNow());
        }
    }

    /// <summary>
    /// Adds a signed advert that <paramref name="via"/> gossiped. Kept when it is valid now and offers the relay
    /// service; it replaces the relay's advert only when newer.
    /// </summary>
    /// <returns><see langword="true"/> when the book now holds the relay with this source; <see langword="false"/> when the
    /// advert was refused (expired, no relay service, the peer's quota used up, or no room).</returns>
    public bool AddAdvert(SignedRelayAdvert advert, PeerId via)
    {
        ArgumentNullException.ThrowIfNull(advert);
        ArgumentNullException.ThrowIfNull(via);
        DateTimeOffset now = _time.GetUtcNow();
        if (!advert.Advert.IsValidAt(now) || !advert.Advert.Services.HasFlag(RelayServices.Relay))
        {
            return false;
        }

        lock (_lock)
        {
            Entry? entry = GetOrCreateFromGossip(advert.Advert.Relay, via, now);
            if (entry is null)
            {
                return false;
            }

            if (entry.Advert is null || advert.IsNewerThan(entry.Advert) || !entry.Advert.Advert.IsValidAt(now))
            {
                entry.Advert = advert;
                entry.ReplaceAddresses(advert.Advert.Addresses);
            }

            entry.Touch(new RelaySource(RelaySourceKind.Gossip, via), now);
            return true;
        }
    }

    /// <summary>Adds unsigned capability metadata that <paramref name="via"/> passed on with <paramref name="addresses"/>.</summary>
    /// <returns>As <see cref="AddAdvert"/>.</returns>
    public bool AddMetadata(PeerId relay, IReadOnlyList<Multiaddr> addresses, RelayCapabilityMetadata metadata, PeerId via)
    {
        ArgumentNullException.ThrowIfNull(relay);
        ArgumentNullException.ThrowIfNull(addresses);
        ArgumentNullException.ThrowIfNull(via);
        if (!metadata.Services.HasFlag(RelayServices.Relay) || metadata.Ttl <= TimeSpan.Zero || metadata.Ttl > RelayAdvert.MaxTtl
            || addresses.Count > RelayAdvert.MaxAddresses || addresses.Any(a => a.IsRelayed))
        {
            return false;
        }

        DateTimeOffset now = _time.GetUtcNow();
        lock (_lock)
        {
            Entry? entry = GetOrCreateFromGossip(relay, via, now);
            if (entry is null)
            {
                return false;
            }

            entry.Unsigned = RelayAdvert.FromMetadata(relay, addresses, metadata, now);
            if (entry.Advert is null)
            {
                entry.ReplaceAddresses(entry.Unsigned.Addresses);
            }

            entry.Touch(new RelaySource(RelaySourceKind.Metadata, via), now);
            return true;
        }
    }

    /// <summary>Records the outcome of one of our reservations on <paramref name="relay"/> (a success is a trusted source).</summary>
    /// <returns><see langword="false"/> when the book does not hold the relay.</returns>
    public bool RecordReservation(PeerId relay, bool succeeded)
    {
        ArgumentNullException.ThrowIfNull(relay);
        lock (_lock)
        {
            if (!_entries.TryGetValue(relay, out Entry? entry))
            {
                return false;
            }

            if (succeeded)
            {
                entry.Successes++;
                entry.Touch(new RelaySource(RelaySourceKind.Reservation), _time.GetUtcNow());
            }
            else
            {
                entry.Failures++;
            }

            return true;
        }
    }

    /// <summary>What the book knows of <paramref name="relay"/>, or <see langword="null"/>.</summary>
    public RelayBookEntry? Get(PeerId relay)
    {
        ArgumentNullException.ThrowIfNull(relay);
        lock (_lock)
        {
            return _entries.TryGetValue(relay, out Entry? entry) && entry.IsLive(_time.GetUtcNow(), _options.UnadvertisedTtl) ? entry.Snapshot() : null;
        }
    }

    /// <summary>Every live relay, in no particular order.</summary>
    public IReadOnlyList<RelayBookEntry> GetEntries()
    {
        DateTimeOffset now = _time.GetUtcNow();
        lock (_lock)
        {
            return [.. _entries.Values.Where(e => e.IsLive(now, _options.UnadvertisedTtl)).Select(e => e.Snapshot())];
        }
    }

    /// <summary>How many live relays each kind of source backs (a relay with several kinds counts under each).</summary>
    public IReadOnlyDictionary<RelaySourceKind, int> CountBySource()
    {
        DateTimeOffset now = _time.GetUtcNow();
        var counts = new Dictionary<RelaySourceKind, int>();
        var kinds = new HashSet<RelaySourceKind>();
        lock (_lock)
        {
            foreach (Entry entry in _entries.Values)
            {
                if (!entry.IsLive(now, _options.UnadvertisedTtl))
                {
                    continue;
                }

                kinds.Clear();
                foreach (RelaySource source in entry.Sources)
                {
                    kinds.Add(source.Kind);
                }

                foreach (RelaySourceKind kind in kinds)
                {
                    counts[kind] = counts.GetValueOrDefault(kind) + 1;
                }
            }
        }

        return counts;
    }

    /// <summary>
    /// The live relays as light views, read in place (no snapshot per relay): what the pool needs to filter and score
    /// 10,000 relays within a millisecond. The address lists are immutable (an entry replaces its list on change).
    /// </summary>
    internal void FillLiveViews(List<RelayEntryView> views)
    {
        DateTimeOffset now = _time.GetUtcNow();
        lock (_lock)
        {
            views.Clear();
            foreach (Entry entry in _entries.Values)
            {
                if (entry.IsLive(now, _options.UnadvertisedTtl))
                {
                    RelayAdvert? advert = entry.Advert?.Advert ?? entry.Unsigned;
                    views.Add(new RelayEntryView(
                        entry.Relay, entry.Addresses, entry.PublicAddressCount, entry.Sources.Count, entry.IsConfigured, entry.FirstSeen, advert?.Capacity ?? 0, advert?.Reservations ?? 0));
                }
            }
        }
    }

    /// <summary>Removes the entries that expired; returns how many.</summary>
    public int Prune()
    {
        lock (_lock)
        {
            return PruneLocked(_time.GetUtcNow());
        }
    }

    private Entry GetOrCreateTrusted(PeerId relay)
    {
        if (_entries.TryGetValue(relay, out Entry? entry))
        {
            return entry;
        }

        DateTimeOffset now = _time.GetUtcNow();
        if (_entries.Count >= _options.MaxEntries)
        {
            PruneLocked(now);
            if (_entries.Count >= _options.MaxEntries)
            {
                // A trusted signal always finds room: an unbacked entry gives way (the book may exceed its bound only
                // when every entry is trusted, which takes the operator or our own connections).
                EvictOneUnbacked();
            }
        }

        entry = new Entry(relay, now, introducedBy: null);
        _entries[relay] = entry;
        return entry;
    }

    private Entry? GetOrCreateFromGossip(PeerId relay, PeerId via, DateTimeOffset now)
    {
        if (_entries.TryGetValue(relay, out Entry? entry))
        {
            return entry;
        }

        if (_introducedBy.GetValueOrDefault(via) >= _options.MaxEntriesPerGossipPeer)
        {
            return null;
        }

        if (_entries.Count >= _options.MaxEntries)
        {
            PruneLocked(now);
            if (_entries.Count >= _options.MaxEntries && !EvictOneUnbacked(maxSources: 1))
            {
                return null;
            }
        }

        entry = new Entry(relay, now, introducedBy: via);
        _entries[relay] = entry;
        _introducedBy[via] = _introducedBy.GetValueOrDefault(via) + 1;
        return entry;
    }

    /// <summary>Evicts the unbacked entry with the fewest sources (at most <paramref name="maxSources"/>), oldest news first.</summary>
    private bool EvictOneUnbacked(int maxSources = int.MaxValue)
    {
        Entry? worst = null;
        foreach (Entry entry in _entries.Values)
        {
            if (entry.IsBacked || entry.Sources.Count > maxSources)
            {
                continue;
            }

            if (worst is null || entry.Sources.Count < worst.Sources.Count
                || (entry.Sources.Count == worst.Sources.Count && entry.LastSeen < worst.LastSeen))
            {
                worst = entry;
            }
        }

        if (worst is null)
        {
            return false;
        }

        Remove(worst);
        return true;
    }

    private int PruneLocked(DateTimeOffset now)
    {
        List<Entry> expired = [.. _entries.Values.Where(e => !e.IsLive(now, _options.UnadvertisedTtl))];
        foreach (Entry entry in expired)
        {
            Remove(entry);
        }

        return expired.Count;
    }

    private void Remove(Entry entry)
    {
        _entries.Remove(entry.Relay);
        if (entry.IntroducedBy is { } via && _introducedBy.TryGetValue(via, out int count))
        {
            if (count <= 1)
            {
                _introducedBy.Remove(via);
            }
            else
            {
                _introducedBy[via] = count - 1;
            }
        }
    }

    private sealed class Entry(PeerId relay, DateTimeOffset firstSeen, PeerId? introducedBy)
    {
        private bool _configured;
        private bool _trustedSource;

        public PeerId Relay { get; } = relay;

        public PeerId? IntroducedBy { get; } = introducedBy;

        public HashSet<RelaySource> Sources { get; } = [];

        /// <summary>Never mutated: replaced on change, so views may share it.</summary>
        public Multiaddr[] Addresses { get; private set; } = [];

        /// <summary>How many of <see cref="Addresses"/> are public (classified once, when they change).</summary>
        public int PublicAddressCount { get; private set; }

        public SignedRelayAdvert? Advert { get; set; }

        public RelayAdvert? Unsigned { get; set; }

        public DateTimeOffset FirstSeen { get; } = firstSeen;

        public DateTimeOffset LastSeen { get; private set; } = firstSeen;

        public int Successes { get; set; }

        public int Failures { get; set; }

        public bool IsConfigured => _configured;

        /// <summary>Backed by a trusted source: configured, identified, or reserved on.</summary>
        public bool IsBacked => _trustedSource || Successes > 0;

        public void Touch(RelaySource source, DateTimeOffset now)
        {
            Sources.Add(source);
            _configured |= source.Kind == RelaySourceKind.Configured;
            _trustedSource |= source.Kind is RelaySourceKind.Configured or RelaySourceKind.Identify or RelaySourceKind.Reservation;
            LastSeen = now;
        }

        public void ReplaceAddresses(IReadOnlyList<Multiaddr> addresses) => SetAddresses([.. addresses]);

        public void MergeAddresses(IReadOnlyList<Multiaddr> addresses)
        {
            List<Multiaddr>? merged = null;
            foreach (Multiaddr address in addresses.Select(a => a.WithoutPeerId()).Where(a => !a.IsRelayed))
            {
                List<Multiaddr> current = merged ?? [.. Addresses];
                if (!current.Contains(address) && current.Count < RelayAdvert.MaxAddresses)
                {
                    current.Add(address);
                    merged = current;
                }
            }

            if (merged is not null)
            {
                SetAddresses([.. merged]);
            }
        }

        public bool IsLive(DateTimeOffset now, TimeSpan unadvertisedTtl)
            => _configured
                || (Advert is not null && Advert.Advert.IsValidAt(now))
                || (Unsigned is not null && Unsigned.IsValidAt(now))
                || (IsBacked && now - LastSeen < unadvertisedTtl);

        public RelayBookEntry Snapshot() => new(Relay, Addresses, Advert, Unsigned, [.. Sources], FirstSeen, LastSeen, Successes, Failures);

        private void SetAddresses(Multiaddr[] addresses)
        {
            Addresses = addresses;
            PublicAddressCount = addresses.Count(a => !AddressClass.IsPrivate(a));
        }
    }
}
