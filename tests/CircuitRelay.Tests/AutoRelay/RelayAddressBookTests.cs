using CircuitRelay.Adverts;
using CircuitRelay.AutoRelay;
using CircuitRelay.Crypto;

namespace CircuitRelay.Tests.AutoRelay;

public sealed class RelayAddressBookTests : IDisposable
{
    private static readonly Multiaddr RelayAddress = Multiaddr.Parse("/ip4/198.51.100.1/tcp/4001");
    private readonly ManualTimeProvider _time = new();
    private readonly List<KeyIdentity> _keys = [];

    [Fact]
    public void AddConfigured_Relay_IsTrustedAndNeverExpires()
    {
        var book = Book();
        PeerId relay = NewKey().PeerId;

        book.AddConfigured(relay, [RelayAddress.WithPeerId(relay)]);
        _time.Advance(TimeSpan.FromDays(30));

        RelayBookEntry entry = book.Get(relay)!;
        entry.IsConfigured.Should().BeTrue();
        entry.Addresses.Should().Equal(RelayAddress);
        entry.Sources.Should().Equal(new RelaySource(RelaySourceKind.Configured));
        book.Prune().Should().Be(0);
    }

    [Fact]
    public void AddAdvert_FromTwoPeers_CountsTwoSourcesOnce()
    {
        var book = Book();
        KeyIdentity relay = NewKey();
        SignedRelayAdvert advert = Seal(relay, TimeSpan.FromMinutes(30));
        PeerId alice = NewKey().PeerId, bob = NewKey().PeerId;

        book.AddAdvert(advert, alice).Should().BeTrue();
        book.AddAdvert(advert, alice).Should().BeTrue();
        book.AddAdvert(advert, bob).Should().BeTrue();

        RelayBookEntry entry = book.Get(relay.PeerId)!;
        entry.SourceCount.Should().Be(2, "each gossiping peer counts once");
        entry.Sources.Should().BeEquivalentTo([new RelaySource(RelaySourceKind.Gossip, alice), new RelaySource(RelaySourceKind.Gossip, bob)]);
        entry.Advert.Should().BeSameAs(advert);
        book.Count.Should().Be(1);
    }

    [Fact]
    public void AddAdvert_NewerThenOlder_KeepsTheNewest()
    {
        var book = Book();
        KeyIdentity relay = NewKey();
        SignedRelayAdvert older = Seal(relay, TimeSpan.FromMinutes(30), "/ip4/198.51.100.1/tcp/4001");
        _time.Advance(TimeSpan.FromSeconds(1));
        SignedRelayAdvert newer = Seal(relay, TimeSpan.FromMinutes(30), "/ip4/198.51.100.2/tcp/4001");
        PeerId via = NewKey().PeerId;

        book.AddAdvert(newer, via);
        book.AddAdvert(older, via);

        RelayBookEntry entry = book.Get(relay.PeerId)!;
        entry.Advert.Should().BeSameAs(newer);
        entry.Addresses.Should().Equal(Multiaddr.Parse("/ip4/198.51.100.2/tcp/4001"));
    }

    [Fact]
    public void AddAdvert_Expired_IsRefused()
    {
        var book = Book();
        SignedRelayAdvert advert = Seal(NewKey(), TimeSpan.FromMinutes(1));
        _time.Advance(TimeSpan.FromMinutes(1));

        book.AddAdvert(advert, NewKey().PeerId).Should().BeFalse();
        book.Count.Should().Be(0);
    }

    [Fact]
    public void AddAdvert_WithoutTheRelayService_IsRefused()
    {
        var book = Book();
        KeyIdentity relay = NewKey();
        var advert = new RelayAdvert(relay.PeerId, [RelayAddress], _time.GetUtcNow(), TimeSpan.FromMinutes(5)) { Services = RelayServices.None };

        book.AddAdvert(RelayAdvert.Open(advert.Seal(relay), SignatureVerifier.Default), NewKey().PeerId).Should().BeFalse();
    }

    [Fact]
    public void Get_AdvertExpired_EntryIsGoneAndPruned()
    {
        var book = Book();
        KeyIdentity relay = NewKey();
        book.AddAdvert(Seal(relay, TimeSpan.FromMinutes(10)), NewKey().PeerId);

        _time.Advance(TimeSpan.FromMinutes(10));

        book.Get(relay.PeerId).Should().BeNull();
        book.GetEntries().Should().BeEmpty();
        book.Prune().Should().Be(1);
        book.Count.Should().Be(0);
    }

    [Fact]
    public void AddIdentified_NotSeenForTheUnadvertisedTtl_Expires()
    {
        var book = Book(o => o.UnadvertisedTtl = TimeSpan.FromMinutes(20));
        PeerId relay = NewKey().PeerId;
        book.AddIdentified(relay, [RelayAddress]);

        _time.Advance(TimeSpan.FromMinutes(19));
        book.AddIdentified(relay, [RelayAddress]);
        _time.Advance(TimeSpan.FromMinutes(19));
        book.Get(relay).Should().NotBeNull("it was seen again 19 minutes ago");

        _time.Advance(TimeSpan.FromMinutes(1));
        book.Get(relay).Should().BeNull();
    }

    [Fact]
    public void RecordReservation_Outcomes_AreCountedAndASuccessIsASource()
    {
        var book = Book();
        KeyIdentity relay = NewKey();
        book.AddAdvert(Seal(relay, TimeSpan.FromMinutes(30)), NewKey().PeerId);

        book.RecordReservation(relay.PeerId, succeeded: false).Should().BeTrue();
        book.RecordReservation(relay.PeerId, succeeded: true).Should().BeTrue();

        RelayBookEntry entry = book.Get(relay.PeerId)!;
        entry.ReservationFailures.Should().Be(1);
        entry.ReservationSuccesses.Should().Be(1);
        entry.Sources.Should().Contain(new RelaySource(RelaySourceKind.Reservation));
        book.RecordReservation(NewKey().PeerId, succeeded: true).Should().BeFalse("the book does not hold that relay");
    }

    [Fact]
    public void AddMetadata_UnsignedCapability_IsASourceAndExpiresWithItsTtl()
    {
        var book = Book();
        PeerId relay = NewKey().PeerId, via = NewKey().PeerId;
        var metadata = new RelayCapabilityMetadata(RelayServices.Relay, 4001, 32, TimeSpan.FromMinutes(5), NodeRole.Public);

        book.AddMetadata(relay, [RelayAddress], metadata, via).Should().BeTrue();

        RelayBookEntry entry = book.Get(relay)!;
        entry.Advert.Should().BeNull();
        entry.UnsignedAdvert!.Capacity.Should().Be(32);
        entry.Sources.Should().Equal(new RelaySource(RelaySourceKind.Metadata, via));
        _time.Advance(TimeSpan.FromMinutes(5));
        book.Get(relay).Should().BeNull();
    }

    [Fact]
    public void AddAdvert_OnePeerFloods_BringsInAtMostItsQuota()
    {
        var book = Book(o => o.MaxEntriesPerGossipPeer = 16);
        PeerId flooder = NewKey().PeerId;

        int stored = Enumerable.Range(0, 100).Count(_ => book.AddAdvert(Seal(NewKey(), TimeSpan.FromMinutes(30)), flooder));

        stored.Should().Be(16);
        book.Count.Should().Be(16);
    }

    [Fact]
    public void AddAdvert_FloodOfTenThousandFakes_KeepsTheBookBoundedAndGoodRelaysIn()
    {
        var book = Book();
        PeerId configured = NewKey().PeerId, identified = NewKey().PeerId;
        KeyIdentity gossiped = NewKey();
        book.AddConfigured(configured, [RelayAddress]);
        book.AddIdentified(identified, [RelayAddress]);
        SignedRelayAdvert good = Seal(gossiped, TimeSpan.FromHours(1));
        book.AddAdvert(good, NewKey().PeerId);
        book.AddAdvert(good, NewKey().PeerId);
        book.RecordReservation(gossiped.PeerId, succeeded: true);

        // 10,000 fake relays (each a key of its own, so every advert verifies) sent by 200 peers, 50 each.
        PeerId[] flooders = [.. Enumerable.Range(0, 200).Select(_ => NewKey().PeerId)];
        for (int i = 0; i < 10_000; i++)
        {
            book.AddAdvert(Seal(NewKey(), TimeSpan.FromHours(1)), flooders[i % flooders.Length]);
        }

        book.Count.Should().BeLessThanOrEqualTo(10_000);
        book.Get(configured).Should().NotBeNull();
        book.Get(identified).Should().NotBeNull();
        book.Get(gossiped.PeerId).Should().NotBeNull();
    }

    [Fact]
    public void AddAdvert_BookFullOfBackedRelays_RefusesGossipedNewcomers()
    {
        var book = Book(o => o.MaxEntries = 2);
        book.AddConfigured(NewKey().PeerId, [RelayAddress]);
        book.AddIdentified(NewKey().PeerId, [RelayAddress]);

        book.AddAdvert(Seal(NewKey(), TimeSpan.FromMinutes(30)), NewKey().PeerId).Should().BeFalse();
        book.Count.Should().Be(2);
    }

    [Fact]
    public void AddAdvert_BookFull_EvictsTheUnbackedEntryWithFewestSourcesAndOldestNews()
    {
        var book = Book(o => o.MaxEntries = 3);
        KeyIdentity twoSources = NewKey(), oldest = NewKey(), newer = NewKey();
        book.AddAdvert(Seal(twoSources, TimeSpan.FromHours(1)), NewKey().PeerId);
        book.AddAdvert(Seal(twoSources, TimeSpan.FromHours(1)), NewKey().PeerId);
        book.AddAdvert(Seal(oldest, TimeSpan.FromHours(1)), NewKey().PeerId);
        _time.Advance(TimeSpan.FromSeconds(1));
        book.AddAdvert(Seal(newer, TimeSpan.FromHours(1)), NewKey().PeerId);

        KeyIdentity newcomer = NewKey();
        book.AddAdvert(Seal(newcomer, TimeSpan.FromHours(1)), NewKey().PeerId).Should().BeTrue();

        book.Get(oldest.PeerId).Should().BeNull();
        book.Get(twoSources.PeerId).Should().NotBeNull();
        book.Get(newer.PeerId).Should().NotBeNull();
        book.Get(newcomer.PeerId).Should().NotBeNull();
    }

    [Fact]
    public void Constructor_InvalidOptions_NamesTheOption()
    {
        Action create = () => new RelayAddressBook(new RelayAddressBookOptions { MaxEntriesPerGossipPeer = 0 }, _time);

        create.Should().Throw<ArgumentException>().WithMessage("*MaxEntriesPerGossipPeer*");
    }

    public void Dispose()
    {
        foreach (KeyIdentity key in _keys)
        {
            key.Dispose();
        }
    }

    private RelayAddressBook Book(Action<RelayAddressBookOptions>? configure = null)
    {
        var options = new RelayAddressBookOptions();
        configure?.Invoke(options);
        return new RelayAddressBook(options, _time);
    }

    private KeyIdentity NewKey()
    {
        var key = KeyIdentity.Generate();
        _keys.Add(key);
        return key;
    }

    private SignedRelayAdvert Seal(KeyIdentity relay, TimeSpan ttl, string address = "/ip4/198.51.100.1/tcp/4001")
        => RelayAdvert.Open(new RelayAdvert(relay.PeerId, [Multiaddr.Parse(address)], _time.GetUtcNow(), ttl).Seal(relay), SignatureVerifier.Default);
}
