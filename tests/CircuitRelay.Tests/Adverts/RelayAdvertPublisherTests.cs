using CircuitRelay.Adverts;
using CircuitRelay.AutoRelay;
using CircuitRelay.Crypto;
using CircuitRelay.Tests.Infrastructure;
using CircuitRelay.Tests.Relay;
using Microsoft.Extensions.Logging.Abstractions;

namespace CircuitRelay.Tests.Adverts;

/// <summary>A relay's own advert, sealed from its host on the fixture's manual clock.</summary>
public sealed class RelayAdvertPublisherTests : IAsyncLifetime
{
    private readonly RelayFixture _fixture = RelayFixture.Create();
    private int _load;

    [Fact]
    public void Current_RelayHost_SealsItsListenAddressesCapacityAndLoad()
    {
        _load = 3;
        using RelayAdvertPublisher publisher = Publisher(o => o.Capacity = 128);

        SignedRelayAdvert opened = RelayAdvert.Open(publisher.Current!.Value.Span, SignatureVerifier.Default);

        opened.Advert.Relay.Should().Be(_fixture.RelayId);
        opened.Advert.Addresses.Should().Equal(_fixture.RelayHost.ListenAddresses);
        opened.Advert.Capacity.Should().Be(128);
        opened.Advert.Reservations.Should().Be(3);
        opened.Advert.IssuedAt.Should().Be(_fixture.Time.GetUtcNow());
        opened.Advert.IsValidAt(_fixture.Time.GetUtcNow()).Should().BeTrue();
    }

    [Fact]
    public void Current_HalfTheTtlPassed_IsSealedAnew()
    {
        using RelayAdvertPublisher publisher = Publisher(o => o.Ttl = TimeSpan.FromMinutes(10));
        byte[] first = publisher.Current!.Value.ToArray();

        _fixture.Time.Advance(TimeSpan.FromMinutes(4));
        publisher.Current!.Value.ToArray().Should().Equal(first, "before half the ttl the same advert is reused");
        _fixture.Time.Advance(TimeSpan.FromMinutes(1));
        SignedRelayAdvert renewed = RelayAdvert.Open(publisher.Current!.Value.Span, SignatureVerifier.Default);

        renewed.Advert.IssuedAt.Should().Be(_fixture.Time.GetUtcNow());
    }

    [Fact]
    public void Current_LoadChanged_IsSealedAnewOnlyAfterTheRefreshInterval()
    {
        using RelayAdvertPublisher publisher = Publisher(o => o.LoadRefreshInterval = TimeSpan.FromSeconds(30));
        _ = publisher.Current;
        _load = 7;

        _fixture.Time.Advance(TimeSpan.FromSeconds(29));
        RelayAdvert.Open(publisher.Current!.Value.Span, SignatureVerifier.Default).Advert.Reservations.Should().Be(0);
        _fixture.Time.Advance(TimeSpan.FromSeconds(1));

        RelayAdvert.Open(publisher.Current!.Value.Span, SignatureVerifier.Default).Advert.Reservations.Should().Be(7);
    }

    [Fact]
    public void Changed_ExternalAddressAdded_IsRaisedAndTheNextAdvertCarriesIt()
    {
        using RelayAdvertPublisher publisher = Publisher();
        _ = publisher.Current;
        int changed = 0;
        publisher.Changed += (_, _) => changed++;
        var external = Multiaddr.Parse("/ip4/203.0.113.77/tcp/4001");

        _fixture.RelayHost.AddExternalAddress(external);

        changed.Should().Be(1);
        RelayAdvert.Open(publisher.Current!.Value.Span, SignatureVerifier.Default).Advert.Addresses.Should().Contain(external);
    }

    [Fact]
    public void Current_ConfiguredAddresses_AreAdvertisedInsteadOfTheHosts()
    {
        var configured = Multiaddr.Parse("/dns4/relay.example/tcp/4001");
        using RelayAdvertPublisher publisher = Publisher(o => o.Addresses.Add(configured));

        RelayAdvert.Open(publisher.Current!.Value.Span, SignatureVerifier.Default).Advert.Addresses.Should().Equal(configured);
    }

    [Fact]
    public void Current_AfterDispose_IsNull()
    {
        RelayAdvertPublisher publisher = Publisher();

        publisher.Dispose();

        publisher.Current.Should().BeNull();
    }

    [Fact]
    public void Constructor_TtlOverADay_NamesTheOption()
    {
        Action create = () => Publisher(o => o.Ttl = TimeSpan.FromHours(25));

        create.Should().Throw<ArgumentException>().WithMessage("*Ttl*");
    }

    [Fact]
    public async Task Gossip_NodeConnectsToThePublishingRelay_BooksItsAdvertFromTheRelay()
    {
        using RelayAdvertPublisher publisher = Publisher(o => o.Capacity = 64);
        await using var relayGossip = new AdvertGossipService(
            _fixture.RelayHost,
            new RelayAddressBook(new RelayAddressBookOptions(), _fixture.Time),
            new AdvertGossipOptions { LocalAdvert = () => publisher.Current },
            NullLoggerFactory.Instance,
            _fixture.Time);
        relayGossip.Start();
        TestNode node = _fixture.CreateNode();
        var book = new RelayAddressBook(new RelayAddressBookOptions(), _fixture.Time);
        await using var nodeGossip = new AdvertGossipService(node.Host, book, new AdvertGossipOptions(), NullLoggerFactory.Instance, _fixture.Time);
        nodeGossip.Start();

        await node.Host.DialAsync(_fixture.RelayAddress).Within();

        await ListenerTests.WaitUntilAsync(() => book.Get(_fixture.RelayId) is not null);
        book.Get(_fixture.RelayId)!.Advert!.Advert.Capacity.Should().Be(64);
    }

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync() => await _fixture.DisposeAsync();

    private RelayAdvertPublisher Publisher(Action<RelayAdvertOptions>? configure = null)
    {
        var options = new RelayAdvertOptions();
        configure?.Invoke(options);
        return new RelayAdvertPublisher(_fixture.RelayHost, options, _fixture.Time, () => _load);
    }
}
