using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;

namespace CircuitRelay.AutoRelay;

/// <summary>
/// Chooses relays to reserve on from a <see cref="RelayAddressBook"/>: filters, scores, backs off after failures,
/// keeps reservations diverse and says when one should be rotated. Deterministic: every time comes from the injected
/// <see cref="TimeProvider"/> and every random choice from <see cref="RelayPoolOptions.RngSeed"/>.
/// </summary>
/// <remarks>
/// <para><b>Filters.</b> A relay is a candidate when the book holds it live, it is configured or has at least
/// <see cref="RelayPoolOptions.MinSources"/> distinct sources, it is not in backoff, its advert (if any) does not say
/// it is full nor that it holds <see cref="RelayPoolOptions.MaxPeersPerRelay"/> reservations or more, and at least one
/// of its addresses is public (unless <see cref="RelayPoolOptions.AllowPrivateAddresses"/>, or the relay is configured).
/// A relay that refused us for lack of capacity is in backoff like any other failure.</para>
/// <para><b>Score</b> (0 to 1) = 0.4 · outcome + 0.2 · latency + 0.2 · uptime + 0.2 · sources, where
/// outcome = (s + 1) / (s + f + 2) over our reservation successes s and failures f, each decayed with the half-life
/// <see cref="RelayPoolOptions.OutcomeHalfLife"/> (an unknown relay scores 0.5); latency = 1 / (1 + rtt / 100 ms) of the
/// last reservation exchange (0.5 when never measured); uptime = ½ · min(1, seen for / 24 h) + ½ · min(1, longest
/// reservation / 1 h); sources = min(1, distinct sources / 4), configured relays 1. Ties are broken by a per-relay key
/// derived from the seed.</para>
/// <para><b>Backoff</b> after a failure: <see cref="RelayPoolOptions.BackoffBase"/> · 2^(failures in a row − 1),
/// capped at <see cref="RelayPoolOptions.BackoffCap"/>, times a jitter of 0.75 to 1.25; a success resets it.</para>
/// <para><b>Diversity.</b> <see cref="Select"/> never returns two relays, nor one beside a held relay, in the same IPv4
/// /24, IPv6 /48 or (with <see cref="RelayPoolOptions.AsnResolver"/>) ASN, so one operator cannot hold all of a node's
/// relays. Private and loopback addresses (usable only when configured or allowed) form no group.</para>
/// </remarks>
public sealed class RelayPool
{
    private static readonly TimeSpan LatencyScale = TimeSpan.FromMilliseconds(100);
    private static readonly TimeSpan FullUptime = TimeSpan.FromHours(24);
    private static readonly TimeSpan FullReservation = TimeSpan.FromHours(1);

    private readonly RelayAddressBook _book;
    private readonly RelayPoolOptions _options;
    private readonly TimeProvider _time;
    private readonly Random _random;
    private readonly Lock _lock = new();
    private readonly Dictionary<PeerId, RelayInfo> _infos = [];
    private readonly List<RelayEntryView> _views = [];
    private readonly List<Ranked> _ranked = [];

    /// <summary>Creates a pool over <paramref name="book"/>.</summary>
    /// <exception cref="ArgumentException">An option is invalid (the message names it).</exception>
    public RelayPool(RelayAddressBook book, RelayPoolOptions options, TimeProvider timeProvider)
    {
        ArgumentNullException.ThrowIfNull(book);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(timeProvider);
        options.Validate();
        _book = book;
        _options = options;
        _time = timeProvider;
        _random = new Random(options.RngSeed);
    }

    /// <summary>A reservation on <paramref name="relay"/> succeeded after <paramref name="roundTrip"/>: the backoff is reset.</summary>
    public void RecordSuccess(PeerId relay, TimeSpan roundTrip)
    {
        ArgumentNullException.ThrowIfNull(relay);
        DateTimeOffset now = _time.GetUtcNow();
        lock (_lock)
        {
            RelayState state = State(relay);
            state.Decay(now, _options.OutcomeHalfLife);
            state.Successes++;
            state.FailuresInARow = 0;
            state.BackoffUntil = null;
            state.RoundTrip = roundTrip;
        }

        _book.RecordReservation(relay, succeeded: true);
    }

    /// <summary>A reservation on <paramref name="relay"/> failed (or its relay was lost): it backs off.</summary>
    /// <returns>When the backoff ends.</returns>
    public DateTimeOffset RecordFailure(PeerId relay)
    {
        ArgumentNullException.ThrowIfNull(relay);
        DateTimeOffset now = _time.GetUtcNow();
        DateTimeOffset until;
        lock (_lock)
        {
            RelayState state = State(relay);
            state.Decay(now, _options.OutcomeHalfLife);
            state.Failures++;
            state.FailuresInARow++;
            until = now + NextBackoff(state.FailuresInARow);
            state.BackoffUntil = until;
        }

        _book.RecordReservation(relay, succeeded: false);
        return until;
    }

    /// <summary>A reservation on <paramref name="relay"/> ended after <paramref name="lasted"/> (for the uptime score).</summary>
    public void RecordReservationEnded(PeerId relay, TimeSpan lasted)
    {
        ArgumentNullException.ThrowIfNull(relay);
        lock (_lock)
        {
            RelayState state = State(relay);
            state.LongestReservation = lasted > state.LongestReservation ? lasted : state.LongestReservation;
        }
    }

    /// <summary>When <paramref name="relay"/>'s backoff ends, or <see langword="null"/> when it is not backed off.</summary>
    public DateTimeOffset? GetBackoffUntil(PeerId relay)
    {
        ArgumentNullException.ThrowIfNull(relay);
        lock (_lock)
        {
            return _infos.TryGetValue(relay, out RelayInfo? info) && info.State?.BackoffUntil > _time.GetUtcNow() ? info.State.BackoffUntil : null;
        }
    }

    /// <summary>How many relays are backed off now.</summary>
    public int BackoffCount
    {
        get
        {
            DateTimeOffset now = _time.GetUtcNow();
            lock (_lock)
            {
                return _infos.Values.Count(i => i.State?.BackoffUntil > now);
            }
        }
    }

    /// <summary>How many relays pass the filters now.</summary>
    public int CandidateCount => WithRanked(ranked => ranked.Count);

    /// <summary>When the first backoff now running ends, or <see langword="null"/> when no relay is backed off.</summary>
    internal DateTimeOffset? EarliestBackoffEnd()
    {
        DateTimeOffset now = _time.GetUtcNow();
        DateTimeOffset? earliest = null;
        lock (_lock)
        {
            foreach (RelayInfo info in _infos.Values)
            {
                if (info.State?.BackoffUntil is { } until && until > now && (earliest is null || until < earliest))
                {
                    earliest = until;
                }
            }
        }

        return earliest;
    }

    /// <summary>Every candidate, best first.</summary>
    public IReadOnlyList<RelayCandidate> GetCandidates()
    {
        return WithRanked<IReadOnlyList<RelayCandidate>>(ranked => [.. ranked.Select(Materialize)]);
    }

    /// <summary>
    /// Up to <paramref name="count"/> candidates, best first, none in the same IPv4 /24, IPv6 /48 or ASN as another
    /// chosen one or as a relay in <paramref name="held"/>, and none already held.
    /// </summary>
    public IReadOnlyList<RelayCandidate> Select(int count, IReadOnlyCollection<PeerId> held)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        ArgumentNullException.ThrowIfNull(held);
        var taken = new HashSet<string>(StringComparer.Ordinal);
        foreach (PeerId relay in held)
        {
            if (_book.Get(relay) is { } entry)
            {
                taken.UnionWith(entry.Addresses.SelectMany(GroupsOf));
            }
        }

        return WithRanked(ranking =>
        {
            var chosen = new List<RelayCandidate>(count);
            foreach (Ranked ranked in ranking)
            {
                if (chosen.Count == count)
                {
                    break;
                }

                if (held.Contains(_views[ranked.Index].Relay))
                {
                    continue;
                }

                RelayCandidate candidate = Materialize(ranked);
                string[] groups = [.. candidate.Addresses.SelectMany(GroupsOf).Distinct()];
                if (groups.Any(taken.Contains))
                {
                    continue;
                }

                taken.UnionWith(groups);
                chosen.Add(candidate);
            }

            return chosen;
        });
    }

    /// <summary>
    /// Whether the reservation on <paramref name="relay"/>, made at <paramref name="reservedAt"/>, should be replaced
    /// (make before break: the caller reserves the replacement first): it reached
    /// <see cref="RelayPoolOptions.MaxReservationAge"/>, or the best diverse candidate scores more than
    /// <see cref="RelayPoolOptions.RotationMargin"/> above it. Never when no replacement exists.
    /// </summary>
    public bool ShouldRotate(PeerId relay, DateTimeOffset reservedAt, IReadOnlyCollection<PeerId> held)
    {
        ArgumentNullException.ThrowIfNull(relay);
        ArgumentNullException.ThrowIfNull(held);
        PeerId[] others = [.. held.Where(h => h != relay)];
        RelayCandidate? replacement = Select(1, [.. others, relay]).FirstOrDefault();
        if (replacement is null)
        {
            return false;
        }

        if (_time.GetUtcNow() - reservedAt >= _options.MaxReservationAge)
        {
            return true;
        }

        return replacement.Score - Score(relay) > _options.RotationMargin;
    }

    /// <summary>The score of <paramref name="relay"/> now (0 when the book does not hold it).</summary>
    public double Score(PeerId relay)
    {
        ArgumentNullException.ThrowIfNull(relay);
        RelayBookEntry? entry = _book.Get(relay);
        if (entry is null)
        {
            return 0;
        }

        lock (_lock)
        {
            RelayState? state = _infos.GetValueOrDefault(relay)?.State;
            return ScoreOf(entry.FirstSeen, entry.SourceCount, entry.IsConfigured, state, _time.GetUtcNow());
        }
    }

    /// <summary>
    /// Filters and scores every live relay of the book, read in place, into the pool's reused buffer, orders it best
    /// first and hands it to <paramref name="use"/>, all under the pool's lock (no buffer is allocated per call: 10,000
    /// ranked relays are most of a megabyte).
    /// </summary>
    private T WithRanked<T>(Func<List<Ranked>, T> use)
    {
        DateTimeOffset now = _time.GetUtcNow();
        lock (_lock)
        {
            List<RelayEntryView> views = _views;
            List<Ranked> ranked = _ranked;
            _book.FillLiveViews(views);
            ranked.Clear();
            for (int i = 0; i < views.Count; i++)
            {
                RelayEntryView view = views[i];
                if (!view.IsConfigured && view.SourceCount < _options.MinSources)
                {
                    continue;
                }

                if ((view.Capacity > 0 && view.Reservations >= view.Capacity)
                    || (_options.MaxPeersPerRelay > 0 && view.Reservations >= _options.MaxPeersPerRelay))
                {
                    continue;
                }

                RelayInfo info = Info(view.Relay);
                RelayState? state = info.State;
                if (state?.BackoffUntil > now || (AllowsPrivate(view) ? view.Addresses.Count : view.PublicAddressCount) == 0)
                {
                    continue;
                }

                ranked.Add(new Ranked(i, ScoreOf(view.FirstSeen, view.SourceCount, view.IsConfigured, state, now), info.TieKey));
            }

            PruneStates(views);

            // The sort moves 24-byte keys, not the views: most of a selection's time is this sort.
            ranked.Sort(static (x, y) => x.CompareTo(y));
            try
            {
                return use(ranked);
            }
            finally
            {
                ranked.Clear();
                views.Clear();
            }
        }
    }

    private RelayCandidate Materialize(Ranked ranked)
    {
        RelayEntryView view = _views[ranked.Index];
        IReadOnlyList<Multiaddr> usable = AllowsPrivate(view) || view.PublicAddressCount == view.Addresses.Count
            ? view.Addresses
            : [.. view.Addresses.Where(a => !AddressClass.IsPrivate(a))];
        return new RelayCandidate(view.Relay, usable, ranked.Score, view.IsConfigured);
    }

    private bool AllowsPrivate(in RelayEntryView view) => _options.AllowPrivateAddresses || view.IsConfigured;

    /// <summary>
    /// The wait before the next attempt after <paramref name="failuresInARow"/> failures: the pool's backoff rule
    /// (base · 2^(n − 1), capped, jitter 0.75 to 1.25 from the seeded source), for work keyed by something other than a
    /// relay's id (probing an address).
    /// </summary>
    internal TimeSpan NextBackoff(int failuresInARow)
    {
        lock (_lock)
        {
            double backoff = Math.Min(
                _options.BackoffCap.TotalMilliseconds,
                _options.BackoffBase.TotalMilliseconds * Math.Pow(2, Math.Clamp(failuresInARow - 1, 0, 30)));
            return TimeSpan.FromMilliseconds(backoff * (0.75 + (_random.NextDouble() * 0.5)));
        }
    }

    private double ScoreOf(DateTimeOffset firstSeen, int sourceCount, bool isConfigured, RelayState? state, DateTimeOffset now)
    {
        double successes = 0, failures = 0;
        TimeSpan? rtt = null;
        TimeSpan longest = TimeSpan.Zero;
        if (state is not null)
        {
            double factor = state.DecayFactor(now, _options.OutcomeHalfLife);
            successes = state.Successes * factor;
            failures = state.Failures * factor;
            rtt = state.RoundTrip;
            longest = state.LongestReservation;
        }

        double outcome = (successes + 1) / (successes + failures + 2);
        double latency = rtt is { } r ? 1 / (1 + (r / LatencyScale)) : 0.5;
        double uptime = (0.5 * Math.Min(1, (now - firstSeen) / FullUptime)) + (0.5 * Math.Min(1, longest / FullReservation));
        double sources = isConfigured ? 1 : Math.Min(1, sourceCount / 4.0);
        return (0.4 * outcome) + (0.2 * latency) + (0.2 * uptime) + (0.2 * sources);
    }

    /// <summary>The diversity groups of an address: its /24 or /48, and its ASN when a resolver is set.</summary>
    private IEnumerable<string> GroupsOf(Multiaddr address)
    {
        if (!address.TryGetIPEndPoint(out IPEndPoint? endPoint))
        {
            yield return "name:" + address.Components[0].Value;
            yield break;
        }

        IPAddress ip = Internal.Subnet.Unmapped(endPoint.Address);
        if (AddressClass.IsPrivate(address))
        {
            // Labs and LANs (loopback, RFC 1918, …): one operator's network by nature; no eclipse to resist there.
            yield break;
        }

        yield return Internal.Subnet.Of(ip);
        if (_options.AsnResolver?.Invoke(ip) is { } asn)
        {
            yield return "asn:" + asn.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }
    }

    private RelayState State(PeerId relay)
    {
        RelayInfo info = Info(relay);
        return info.State ??= new RelayState { DecayedAt = _time.GetUtcNow() };
    }

    /// <summary>What the pool keeps per relay (one lookup per relay per selection): its tie key and, once it has outcomes, its state.</summary>
    private RelayInfo Info(PeerId relay)
    {
        if (!_infos.TryGetValue(relay, out RelayInfo? info))
        {
            info = new RelayInfo(TieKey(relay));
            _infos[relay] = info;
        }

        return info;
    }

    /// <summary>A stable per-relay tie-break key from the seed (a hash, so it does not depend on the order relays appear in).</summary>
    private ulong TieKey(PeerId relay)
    {
        byte[] id = relay.ToByteArray();
        byte[] input = new byte[4 + id.Length];
        BitConverter.TryWriteBytes(input, _options.RngSeed);
        id.CopyTo(input, 4);
        return BitConverter.ToUInt64(SHA256.HashData(input));
    }

    /// <summary>Forgets what it knew of relays the book dropped, once there is much of it.</summary>
    private void PruneStates(List<RelayEntryView> entries)
    {
        if (_infos.Count <= (2 * entries.Count) + 1024)
        {
            return;
        }

        HashSet<PeerId> live = [.. entries.Select(e => e.Relay)];
        foreach (PeerId relay in _infos.Keys.Where(r => !live.Contains(r)).ToArray())
        {
            _infos.Remove(relay);
        }
    }

    private sealed class RelayInfo(ulong tieKey)
    {
        public ulong TieKey { get; } = tieKey;

        public RelayState? State { get; set; }
    }

    /// <summary>A candidate's place in the pool's view buffer, its score and its tie key.</summary>
    private readonly record struct Ranked(int Index, double Score, ulong Tie)
    {
        /// <summary>Best first: higher score, then the seeded tie key.</summary>
        public int CompareTo(Ranked other)
        {
            int byScore = other.Score.CompareTo(Score);
            return byScore != 0 ? byScore : Tie.CompareTo(other.Tie);
        }
    }

    private sealed class RelayState
    {
        public double Successes { get; set; }

        public double Failures { get; set; }

        public int FailuresInARow { get; set; }

        public DateTimeOffset? BackoffUntil { get; set; }

        public TimeSpan? RoundTrip { get; set; }

        public TimeSpan LongestReservation { get; set; }

        public DateTimeOffset DecayedAt { get; set; }

        public double DecayFactor(DateTimeOffset now, TimeSpan halfLife) => Math.Pow(0.5, Math.Max(0, (now - DecayedAt) / halfLife));

        /// <summary>Applies the decay up to <paramref name="now"/> to the stored counts.</summary>
        public void Decay(DateTimeOffset now, TimeSpan halfLife)
        {
            double factor = DecayFactor(now, halfLife);
            Successes *= factor;
            Failures *= factor;
            DecayedAt = now;
        }
    }
}
