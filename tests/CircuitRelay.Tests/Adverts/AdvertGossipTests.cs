using CircuitRelay.Abstractions;
using CircuitRelay.Adverts;
using CircuitRelay.AutoRelay;
using CircuitRelay.Crypto;
using CircuitRelay.Multiformats;
using CircuitRelay.Tests.Infrastructure;
using CircuitRelay.Tests.Relay;
using Google.Protobuf;
using Microsoft.Extensions.Logging;
using GossipMessage = CircuitRelay.Adverts.Pb.AdvertGossip;

namespace CircuitRelay.Tests.Adverts;

/// <summary>The advert gossip between reference hosts over the memory transport, on the fixture's manual clock.</summary>
public sealed class AdvertGossipTests : IAsyncLifetime
{
    private static readonly EventId PeerBanned = new(402, nameof(PeerBanned));
    private readonly RelayFixture _fixture = RelayFixture.Create();
    private readonly List<KeyIdentity> _keys = [];

    [Fact]
    public async Task Connect_NodeWithItsOwnAdvert_PushesItAndThePeerBooksItFromThatPeer()
    {
        (TestNode relay, _, _) = Gossiper(localAdvertOf: true);
        (TestNode node, RelayAddressBook book, _) = Gossiper();

        await node.Host.DialAsync(relay.Address).Within();

        await ListenerTests.WaitUntilAsync(() => book.Get(relay.Id) is not null);
        RelayBookEntry entry = book.Get(relay.Id)!;
        entry.Sources.Should().Equal(new RelaySource(RelaySourceKind.Gossip, relay.Id));
        entry.Advert!.Advert.Relay.Should().Be(relay.Id);
    }

    [Fact]
    public async Task PullAsync_ForwardedAdvert_KeepsTheRelaysSignatureAndNamesTheForwarder()
    {
        (TestNode forwarder, RelayAddressBook forwarderBook, _) = Gossiper();
        (TestNode node, RelayAddressBook book, AdvertGossipService gossip) = Gossiper();
        KeyIdentity relay = NewKey();
        byte[] sealedByRelay = Advert(relay).Seal(relay);
        forwarderBook.AddAdvert(RelayAdvert.Open(sealedByRelay, SignatureVerifier.Default), NewKey().PeerId);
        await node.Host.DialAsync(forwarder.Address).Within();

        int stored = await gossip.PullAsync(forwarder.Id).Within();

        stored.Should().BeGreaterThanOrEqualTo(1);
        RelayBookEntry entry = book.Get(relay.PeerId)!;
        entry.Advert!.Envelope.ToArray().Should().Equal(sealedByRelay);
        entry.Sources.Should().Contain(new RelaySource(RelaySourceKind.Gossip, forwarder.Id));
    }

    [Fact]
    public async Task Handler_GarbageMessage_BansThePeerResetsAndKeepsServing()
    {
        (TestNode node, RelayAddressBook book, AdvertGossipService gossip) = Gossiper();
        TestNode attacker = _fixture.CreateNode();

        ILibp2pStream stream = await attacker.Host.OpenStreamAsync(node.Id, AdvertGossipService.ProtocolId, node.DialHere).Within();
        await LengthPrefixed.WriteAsync(stream.Output, new byte[] { 0x0a, 0xff, 0xff });
        await stream.Output.CompleteAsync();

        (await stream.Input.ReadUntilEndOrResetAsync().Within()).Reset.Should().BeTrue();
        gossip.IsBanned(attacker.Id).Should().BeTrue();
        book.Count.Should().Be(0);
        await AssertStillServesAsync(node, book);
    }

    [Fact]
    public async Task Handler_ForgedAdvert_BansThePeerAndStoresNothing()
    {
        (TestNode node, RelayAddressBook book, AdvertGossipService gossip) = Gossiper();
        TestNode attacker = _fixture.CreateNode();
        KeyIdentity relay = NewKey(), forger = NewKey();
        var forged = new CircuitRelay.Adverts.Pb.RelayAdvert
        {
            Relay = ByteString.CopyFrom(relay.PeerId.ToByteArray()),
            TtlMs = 60_000,
            IssuedAtMs = (ulong)_fixture.Time.GetUtcNow().ToUnixTimeMilliseconds(),
            Services = 1,
        };
        byte[] envelope = SignedEnvelope.Seal(forger, RelayAdvert.Domain, RelayAdvert.PayloadType, forged.ToByteArray()).ToByteArray();

        await SendAsync(attacker, node, Message(envelope));

        gossip.IsBanned(attacker.Id).Should().BeTrue();
        book.Get(relay.PeerId).Should().BeNull();
        _fixture.Logs.ShouldHaveLoggedOnce(PeerBanned, LogLevel.Information);
    }

    [Fact]
    public async Task Handler_OversizedMessage_BansThePeerBeforeReadingIt()
    {
        (TestNode node, _, AdvertGossipService gossip) = Gossiper();
        TestNode attacker = _fixture.CreateNode();

        ILibp2pStream stream = await attacker.Host.OpenStreamAsync(node.Id, AdvertGossipService.ProtocolId, node.DialHere).Within();
        await stream.Output.WriteAsync(Varint.Encode(AdvertGossipService.MaxMessageSize + 1));

        (await stream.Input.ReadUntilEndOrResetAsync().Within()).Reset.Should().BeTrue("the length is refused before any body arrives");
        gossip.IsBanned(attacker.Id).Should().BeTrue();
    }

    [Fact]
    public async Task Handler_MoreThanThreeAdvertsInOneMessage_BansThePeer()
    {
        (TestNode node, RelayAddressBook book, AdvertGossipService gossip) = Gossiper();
        TestNode attacker = _fixture.CreateNode();
        byte[][] adverts = [.. Enumerable.Range(0, 4).Select(_ => { KeyIdentity k = NewKey(); return Advert(k).Seal(k); })];

        await SendAsync(attacker, node, Message(adverts));

        gossip.IsBanned(attacker.Id).Should().BeTrue();
        book.Count.Should().Be(0);
    }

    [Fact]
    public async Task Handler_ValidAdvertFromABannedPeer_IsResetAndIgnored()
    {
        (TestNode node, RelayAddressBook book, AdvertGossipService gossip) = Gossiper();
        TestNode attacker = _fixture.CreateNode();
        await SendAsync(attacker, node, [0x01, 0xff]);
        gossip.IsBanned(attacker.Id).Should().BeTrue();
        KeyIdentity relay = NewKey();

        bool reset = await SendAsync(attacker, node, Message(Advert(relay).Seal(relay)));

        reset.Should().BeTrue();
        book.Get(relay.PeerId).Should().BeNull();
    }

    [Fact]
    public async Task Handler_BanExpired_AcceptsThePeerAgain()
    {
        (TestNode node, RelayAddressBook book, AdvertGossipService gossip) = Gossiper();
        TestNode attacker = _fixture.CreateNode();
        await SendAsync(attacker, node, [0x01, 0xff]);
        _fixture.Time.Advance(new AdvertGossipOptions().BanDuration);
        KeyIdentity relay = NewKey();
        byte[] advert = new RelayAdvert(relay.PeerId, [Multiaddr.Parse("/ip4/198.51.100.77/tcp/4001")], _fixture.Time.GetUtcNow(), TimeSpan.FromMinutes(30)).Seal(relay);

        bool reset = await SendAsync(attacker, node, Message(advert));

        reset.Should().BeFalse();
        gossip.IsBanned(attacker.Id).Should().BeFalse();
        book.Get(relay.PeerId).Should().NotBeNull();
    }

    [Fact]
    public async Task PullAsync_OverThePeersRateLimit_StoresOnlyTheBudget()
    {
        (TestNode forwarder, RelayAddressBook forwarderBook, _) = Gossiper();
        (TestNode node, RelayAddressBook book, AdvertGossipService gossip) = Gossiper(o => o.MaxAdvertsPerMinutePerPeer = 5);
        for (int i = 0; i < 10; i++)
        {
            KeyIdentity relay = NewKey();
            forwarderBook.AddAdvert(RelayAdvert.Open(Advert(relay).Seal(relay), SignatureVerifier.Default), NewKey().PeerId);
        }

        await node.Host.DialAsync(forwarder.Address).Within();

        // The forwarder also pushes its 10 on connect; push and pull together draw on the same budget.
        await FluentActions.Awaiting(() => gossip.PullAsync(forwarder.Id)).Should().NotThrowAsync();
        await FluentActions.Awaiting(() => gossip.PullAsync(forwarder.Id)).Should().NotThrowAsync();

        // At most 5 taken in all (fewer when the push and a pull deliver the same advert and both spend a permit on it).
        book.Count.Should().BeInRange(1, 5, "5 adverts a minute are taken from one peer, however they arrive; 10 were offered");
        gossip.IsBanned(forwarder.Id).Should().BeFalse("a busy peer is limited, not banned");
    }

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        // The fixture disposes what the test gave it (bounded, in reverse) before the relay and the hosts.
        await _fixture.DisposeAsync();

        foreach (KeyIdentity key in _keys)
        {
            key.Dispose();
        }
    }

    private (TestNode Node, RelayAddressBook Book, AdvertGossipService Gossip) Gossiper(Action<AdvertGossipOptions>? configure = null, bool localAdvertOf = false)
    {
        TestNode node = _fixture.CreateNode();
        var book = new RelayAddressBook(new RelayAddressBookOptions(), _fixture.Time);
        var options = new AdvertGossipOptions();
        if (localAdvertOf)
        {
            KeyIdentity identity = (KeyIdentity)node.Host.Identity;
            byte[] own = new RelayAdvert(node.Id, [node.Host.ListenAddresses[0]], _fixture.Time.GetUtcNow(), TimeSpan.FromMinutes(30)).Seal(identity);
            options.LocalAdvert = () => own;
        }

        configure?.Invoke(options);
        var gossip = new AdvertGossipService(node.Host, book, options, _fixture.Logs.Factory, _fixture.Time);
        gossip.Start();
        _fixture.Own(gossip);
        return (node, book, gossip);
    }

    private async Task AssertStillServesAsync(TestNode node, RelayAddressBook book)
    {
        (TestNode honest, RelayAddressBook honestBook, _) = Gossiper();
        KeyIdentity relay = NewKey();
        honestBook.AddAdvert(RelayAdvert.Open(Advert(relay).Seal(relay), SignatureVerifier.Default), NewKey().PeerId);

        await honest.Host.DialAsync(node.Address).Within();

        await ListenerTests.WaitUntilAsync(() => book.Get(relay.PeerId) is not null);
    }

    /// <summary>Sends one raw message and waits until the receiver ended or reset the stream; whether it reset.</summary>
    private static async Task<bool> SendAsync(TestNode from, TestNode to, byte[] message)
    {
        ILibp2pStream? stream = null;
        bool reset;
        try
        {
            // A banned peer's stream may be reset while it is still negotiating the protocol.
            stream = await from.Host.OpenStreamAsync(to.Id, AdvertGossipService.ProtocolId, to.DialHere).Within();
            await LengthPrefixed.WriteAsync(stream.Output, message);
            await stream.Output.CompleteAsync();
            reset = (await stream.Input.ReadUntilEndOrResetAsync().Within()).Reset;
        }
        catch (IOException)
        {
            reset = true;
        }

        if (stream is not null)
        {
            await stream.DisposeAsync();
        }

        return reset;
    }

    private static byte[] Message(params byte[][] adverts)
    {
        var message = new GossipMessage();
        foreach (byte[] advert in adverts)
        {
            message.Adverts.Add(ByteString.CopyFrom(advert));
        }

        return message.ToByteArray();
    }

    private RelayAdvert Advert(KeyIdentity relay) => new(relay.PeerId, [Multiaddr.Parse("/ip4/198.51.100.77/tcp/4001")], _fixture.Time.GetUtcNow(), TimeSpan.FromMinutes(30));

    private KeyIdentity NewKey()
    {
        var key = KeyIdentity.Generate();
        _keys.Add(key);
        return key;
    }
}
