using System.Net;
using CircuitRelay.Adverts;
using CircuitRelay.AutoRelay;
using CircuitRelay.Crypto;

namespace CircuitRelay.Tests.AutoRelay;

public sealed class RelayPoolTests : IDisposable
{
    private static readonly RelayCapabilityMetadata Capability = new(RelayServices.Relay, 4001, 64, TimeSpan.FromHours(24), NodeRole.Public);
    private readonly ManualTimeProvider _time = new();
    private readonly List<KeyIdentity> _keys = [];
    private readonly RelayAddressBook _book;
    private readonly PeerId _viaA, _viaB;

    public RelayPoolTests()
    {
        _book = new RelayAddressBook(new RelayAddressBookOptions(), _time);
        _viaA = NewPeer();
        _viaB = NewPeer();
    }

    [Fact]
    public void GetCandidates_AutoRelayWithFewerSourcesThanMinSources_IsLeftOut()
    {
        PeerId once = Gossiped("198.51.100.1", sources: 1), twice = Gossiped("198.51.100.2", sources: 2);
        PeerId configured = NewPeer();
        _book.AddConfigured(configured, [Multiaddr.Parse("/ip4/203.0.113.9/tcp/4001")]);

        IReadOnlyList<RelayCandidate> candidates = Pool().GetCandidates();

        candidates.Select(c => c.Relay).Should().BeEquivalentTo([twice, configured]);
        candidates.Should().NotContain(c => c.Relay == once);
    }

    [Fact]
    public void GetCandidates_OnlyPrivateAddresses_LeftOutUnlessAllowed()
    {
        PeerId lan = Gossiped("192.168.1.5", sources: 2), loopback = Gossiped("127.0.0.1", sources: 2), cgnat = Gossiped("100.64.0.1", sources: 2);
        PeerId open = Gossiped("198.51.100.3", sources: 2);

        Pool().GetCandidates().Select(c => c.Relay).Should().Equal(open);
        Pool(o => o.AllowPrivateAddresses = true).GetCandidates().Select(c => c.Relay).Should().BeEquivalentTo([lan, loopback, cgnat, open]);
    }

    [Fact]
    public void GetCandidates_ConfiguredRelayAtAPrivateAddress_IsUsedAtIt()
    {
        PeerId lan = NewPeer();
        _book.AddConfigured(lan, [Multiaddr.Parse("/ip4/127.0.0.1/tcp/4001")]);

        Pool().GetCandidates().Should().ContainSingle().Which.Addresses.Should().Equal(Multiaddr.Parse("/ip4/127.0.0.1/tcp/4001"));
    }

    [Fact]
    public void GetCandidates_AdvertSaysFull_IsLeftOut()
    {
        PeerId full = Advertised("198.51.100.1", capacity: 4, reservations: 4);
        PeerId room = Advertised("198.51.100.2", capacity: 4, reservations: 3);
        PeerId silent = Advertised("198.51.100.3", capacity: 0, reservations: 900);

        Pool().GetCandidates().Select(c => c.Relay).Should().BeEquivalentTo([room, silent], "a relay that gives no capacity is never full");
        full.Should().NotBeNull();
    }

    [Fact]
    public void GetCandidates_MaxPeersPerRelay_LeavesOutRelaysAtOrOverIt()
    {
        PeerId crowded = Advertised("198.51.100.1", capacity: 128, reservations: 10);
        PeerId atCap = Advertised("198.51.100.2", capacity: 128, reservations: 5);
        PeerId quiet = Advertised("198.51.100.3", capacity: 128, reservations: 4);

        Pool(o => o.MaxPeersPerRelay = 5).GetCandidates().Select(c => c.Relay).Should().Equal(quiet);
        Pool().GetCandidates().Select(c => c.Relay).Should().BeEquivalentTo([crowded, atCap, quiet], "0 means no cap");
    }

    [Fact]
    public void Validate_NegativeMaxPeersPerRelay_NamesIt()
    {
        Action validate = () => new RelayPoolOptions { MaxPeersPerRelay = -1 }.Validate();

        validate.Should().Throw<ArgumentException>().WithMessage("*MaxPeersPerRelay*");
    }

    [Fact]
    public void GetCandidates_SuccessesAndFailures_OrderByScore()
    {
        PeerId good = Gossiped("198.51.100.1", sources: 2), plain = Gossiped("198.51.100.2", sources: 2), bad = Gossiped("198.51.100.3", sources: 2);
        RelayPool pool = Pool(o => o.BackoffBase = TimeSpan.FromMilliseconds(1));
        pool.RecordSuccess(good, TimeSpan.FromMilliseconds(20));
        pool.RecordFailure(bad);
        _time.Advance(TimeSpan.FromSeconds(1));

        pool.GetCandidates().Select(c => c.Relay).Should().Equal(good, plain, bad);
        pool.Score(good).Should().BeGreaterThan(pool.Score(plain));
        pool.Score(plain).Should().BeGreaterThan(pool.Score(bad));
    }

    [Fact]
    public void Score_FailuresLongAgo_DecayTowardsUnknown()
    {
        PeerId relay = Gossiped("198.51.100.1", sources: 2), fresh = Gossiped("198.51.100.2", sources: 2);
        RelayPool pool = Pool();
        for (int i = 0; i < 5; i++)
        {
            pool.RecordFailure(relay);
        }

        double right = pool.Score(relay);
        _time.Advance(TimeSpan.FromHours(10));

        pool.Score(relay).Should().BeGreaterThan(right);
        pool.Score(relay).Should().BeApproximately(pool.Score(fresh), 0.01, "ten half-lives leave almost nothing of five failures");
    }

    [Fact]
    public void RecordFailure_InARow_BacksOffExponentiallyWithJitterUpToTheCap()
    {
        PeerId relay = Gossiped("198.51.100.1", sources: 2);
        RelayPool pool = Pool(o =>
        {
            o.BackoffBase = TimeSpan.FromSeconds(10);
            o.BackoffCap = TimeSpan.FromSeconds(60);
        });
        var waits = new List<TimeSpan>();

        for (int i = 0; i < 5; i++)
        {
            DateTimeOffset now = _time.GetUtcNow();
            waits.Add(pool.RecordFailure(relay) - now);
        }

        waits[0].Should().BeGreaterThanOrEqualTo(TimeSpan.FromSeconds(7.5)).And.BeLessThanOrEqualTo(TimeSpan.FromSeconds(12.5));
        waits[1].Should().BeGreaterThanOrEqualTo(TimeSpan.FromSeconds(15)).And.BeLessThanOrEqualTo(TimeSpan.FromSeconds(25));
        waits[2].Should().BeGreaterThanOrEqualTo(TimeSpan.FromSeconds(30)).And.BeLessThanOrEqualTo(TimeSpan.FromSeconds(50));
        waits[4].Should().BeLessThanOrEqualTo(TimeSpan.FromSeconds(75), "the cap, with at most a quarter of jitter");
        pool.GetCandidates().Should().BeEmpty("the relay is backed off");
    }

    [Fact]
    public void RecordSuccess_AfterFailures_ResetsTheBackoff()
    {
        PeerId relay = Gossiped("198.51.100.1", sources: 2);
        RelayPool pool = Pool();
        pool.RecordFailure(relay);
        pool.RecordFailure(relay);

        pool.RecordSuccess(relay, TimeSpan.FromMilliseconds(30));

        pool.GetBackoffUntil(relay).Should().BeNull();
        pool.GetCandidates().Select(c => c.Relay).Should().Equal(relay);
        DateTimeOffset now = _time.GetUtcNow();
        (pool.RecordFailure(relay) - now).Should().BeLessThanOrEqualTo(TimeSpan.FromSeconds(5 * 1.25), "the next failure backs off from the base again");
    }

    [Fact]
    public void GetCandidates_BackoffEnds_RelayIsBack()
    {
        PeerId relay = Gossiped("198.51.100.1", sources: 2);
        RelayPool pool = Pool();
        DateTimeOffset until = pool.RecordFailure(relay);

        _time.Advance(until - _time.GetUtcNow());

        pool.GetCandidates().Select(c => c.Relay).Should().Equal(relay);
    }

    [Fact]
    public void Select_TwoRelaysInOneSlash24_TakesOneAndAnotherNetwork()
    {
        PeerId a = Gossiped("198.51.100.1", sources: 3), sameNet = Gossiped("198.51.100.2", sources: 3), other = Gossiped("203.0.113.1", sources: 2);

        IReadOnlyList<RelayCandidate> chosen = Pool().Select(3, []);

        chosen.Should().HaveCount(2);
        chosen.Select(c => c.Relay).Should().Contain(other);
        chosen.Select(c => c.Relay).Should().ContainSingle(r => r == a || r == sameNet);
    }

    [Fact]
    public void Select_HeldRelay_ExcludesItAndItsNetwork()
    {
        PeerId held = Gossiped("198.51.100.1", sources: 3);
        Gossiped("198.51.100.2", sources: 3);
        PeerId other = Gossiped("203.0.113.1", sources: 2);

        Pool().Select(2, [held]).Select(c => c.Relay).Should().Equal(other);
    }

    [Fact]
    public void Select_IPv6SameSlash48_TakesOne()
    {
        Gossiped("2001:db8:1::1", sources: 2);
        Gossiped("2001:db8:1:ffff::2", sources: 2);
        Gossiped("2001:db8:2::1", sources: 2);

        Pool().Select(3, []).Should().HaveCount(2);
    }

    [Fact]
    public void Select_AsnResolver_OneReservationPerAsn()
    {
        Gossiped("198.51.100.1", sources: 2);
        Gossiped("203.0.113.1", sources: 2);
        PeerId otherAsn = Gossiped("192.0.2.1", sources: 2);
        RelayPool pool = Pool(o => o.AsnResolver = ip => ip.ToString().StartsWith("192.0.2.", StringComparison.Ordinal) ? 64501u : 64500u);

        IReadOnlyList<RelayCandidate> chosen = pool.Select(3, []);

        chosen.Should().HaveCount(2);
        chosen.Select(c => c.Relay).Should().Contain(otherAsn);
    }

    [Fact]
    public void Select_SameSeedSameInputs_SameChoices()
    {
        for (int i = 0; i < 20; i++)
        {
            Gossiped($"198.51.{i}.1", sources: 2);
        }

        IReadOnlyList<PeerId> first = [.. Pool(o => o.RngSeed = 7).Select(5, []).Select(c => c.Relay)];
        IReadOnlyList<PeerId> again = [.. Pool(o => o.RngSeed = 7).Select(5, []).Select(c => c.Relay)];
        IReadOnlyList<PeerId> otherSeed = [.. Pool(o => o.RngSeed = 8).Select(20, []).Select(c => c.Relay)];

        again.Should().Equal(first);
        otherSeed.Should().NotEqual([.. Pool(o => o.RngSeed = 7).Select(20, []).Select(c => c.Relay)], "equal scores are ordered by the seed");
    }

    [Fact]
    public void ShouldRotate_MaxAgeReachedWithAReplacement_True()
    {
        PeerId held = Gossiped("198.51.100.1", sources: 2);
        Gossiped("203.0.113.1", sources: 2);
        RelayPool pool = Pool(o => o.MaxReservationAge = TimeSpan.FromHours(1));
        DateTimeOffset reservedAt = _time.GetUtcNow();

        pool.ShouldRotate(held, reservedAt, [held]).Should().BeFalse();
        _time.Advance(TimeSpan.FromHours(1));
        pool.ShouldRotate(held, reservedAt, [held]).Should().BeTrue();
    }

    [Fact]
    public void ShouldRotate_NoReplacement_FalseEvenWhenOld()
    {
        PeerId held = Gossiped("198.51.100.1", sources: 2);
        RelayPool pool = Pool(o => o.MaxReservationAge = TimeSpan.FromHours(1));
        DateTimeOffset reservedAt = _time.GetUtcNow();
        _time.Advance(TimeSpan.FromHours(2));

        pool.ShouldRotate(held, reservedAt, [held]).Should().BeFalse("make before break: nothing to move to");
    }

    [Fact]
    public void ShouldRotate_HeldRelayDegradedWellBelowTheBest_True()
    {
        PeerId held = Gossiped("198.51.100.1", sources: 2), better = Gossiped("203.0.113.1", sources: 4);
        RelayPool pool = Pool(o => o.RotationMargin = 0.2);
        for (int i = 0; i < 6; i++)
        {
            pool.RecordFailure(held);
        }

        pool.RecordSuccess(better, TimeSpan.FromMilliseconds(10));

        pool.ShouldRotate(held, _time.GetUtcNow(), [held]).Should().BeTrue();
    }

    [Fact]
    public void Constructor_InvalidOptions_NamesTheOption()
    {
        Action create = () => new RelayPool(_book, new RelayPoolOptions { RotationMargin = 2 }, _time);

        create.Should().Throw<ArgumentException>().WithMessage("*RotationMargin*");
    }

    public void Dispose()
    {
        foreach (KeyIdentity key in _keys)
        {
            key.Dispose();
        }
    }

    private RelayPool Pool(Action<RelayPoolOptions>? configure = null)
    {
        var options = new RelayPoolOptions();
        configure?.Invoke(options);
        return new RelayPool(_book, options, _time);
    }

    /// <summary>A relay reported through unsigned metadata by <paramref name="sources"/> distinct peers.</summary>
    private PeerId Gossiped(string ip, int sources)
    {
        PeerId relay = NewPeer();
        Multiaddr address = Multiaddr.FromIPEndPoint(new IPEndPoint(IPAddress.Parse(ip), 4001));
        _book.AddMetadata(relay, [address], Capability, _viaA).Should().BeTrue();
        if (sources >= 2)
        {
            _book.AddMetadata(relay, [address], Capability, _viaB).Should().BeTrue();
        }

        for (int i = 2; i < sources; i++)
        {
            _book.AddMetadata(relay, [address], Capability, NewPeer()).Should().BeTrue();
        }

        return relay;
    }

    /// <summary>A relay known from its signed advert (with its capacity and load), gossiped by two peers.</summary>
    private PeerId Advertised(string ip, uint capacity, uint reservations)
    {
        var key = KeyIdentity.Generate();
        _keys.Add(key);
        var advert = new RelayAdvert(key.PeerId, [Multiaddr.FromIPEndPoint(new IPEndPoint(IPAddress.Parse(ip), 4001))], _time.GetUtcNow(), TimeSpan.FromHours(1))
        {
            Capacity = capacity,
            Reservations = reservations,
        };
        SignedRelayAdvert signed = RelayAdvert.Open(advert.Seal(key), SignatureVerifier.Default);
        signed.Advert.Reservations.Should().Be(reservations, "the load survives sealing and opening");
        _book.AddAdvert(signed, _viaA).Should().BeTrue();
        _book.AddAdvert(signed, _viaB).Should().BeTrue();
        return key.PeerId;
    }

    private PeerId NewPeer()
    {
        var key = KeyIdentity.Generate();
        _keys.Add(key);
        return key.PeerId;
    }
}
