using CircuitRelay.Adverts;
using CircuitRelay.Crypto;
using Google.Protobuf;
using AdvertMessage = CircuitRelay.Adverts.Pb.RelayAdvert;

namespace CircuitRelay.Tests.Adverts;

public sealed class RelayAdvertTests : IDisposable
{
    private static readonly DateTimeOffset Issued = new(2030, 1, 1, 12, 0, 0, TimeSpan.Zero);
    private readonly KeyIdentity _relay = KeyIdentity.Generate();
    private readonly KeyIdentity _other = KeyIdentity.Generate();

    [Fact]
    public void Open_SealedAdvert_RoundTripsEveryFieldAndKeepsTheEnvelope()
    {
        RelayAdvert advert = new(_relay.PeerId, [Multiaddr.Parse("/ip4/198.51.100.1/tcp/4001"), Multiaddr.Parse("/ip6/2001:db8::1/tcp/4001")], Issued, TimeSpan.FromMinutes(30))
        {
            RelayPort = 4001,
            Capacity = 128,
            Role = NodeRole.Public,
        };
        byte[] sealedAdvert = advert.Seal(_relay);

        SignedRelayAdvert opened = RelayAdvert.Open(sealedAdvert, SignatureVerifier.Default);

        opened.Advert.Relay.Should().Be(_relay.PeerId);
        opened.Advert.Addresses.Should().Equal(advert.Addresses);
        opened.Advert.IssuedAt.Should().Be(Issued);
        opened.Advert.Ttl.Should().Be(TimeSpan.FromMinutes(30));
        opened.Advert.Services.Should().Be(RelayServices.Relay);
        opened.Advert.RelayPort.Should().Be(4001);
        opened.Advert.Capacity.Should().Be(128);
        opened.Advert.Role.Should().Be(NodeRole.Public);
        opened.Envelope.ToArray().Should().Equal(sealedAdvert, "a forwarded advert keeps the relay's own signature");
        sealedAdvert.Length.Should().BeLessThanOrEqualTo(RelayAdvert.MaxEnvelopeSize);
    }

    [Fact]
    public void Constructor_AddressWithPeerId_KeepsItWithout()
    {
        var advert = new RelayAdvert(_relay.PeerId, [Multiaddr.Parse("/ip4/198.51.100.1/tcp/4001").WithPeerId(_relay.PeerId)], Issued, TimeSpan.FromMinutes(1));

        advert.Addresses.Should().Equal(Multiaddr.Parse("/ip4/198.51.100.1/tcp/4001"));
    }

    [Fact]
    public void Open_AlteredByte_ThrowsInvalidDataException()
    {
        byte[] sealedAdvert = Advert().Seal(_relay);
        int payloadByte = sealedAdvert.AsSpan().IndexOf(Multiaddr.Parse("/ip4/198.51.100.1/tcp/4001").ToByteArray());
        sealedAdvert[payloadByte + 2] ^= 0x01;

        Action open = () => RelayAdvert.Open(sealedAdvert, SignatureVerifier.Default);

        open.Should().Throw<InvalidDataException>();
    }

    [Fact]
    public void Open_SignedByAnotherPeerNamingTheRelay_ThrowsInvalidDataException()
    {
        byte[] forged = SealRaw(_other, Message(_relay.PeerId));

        Action open = () => RelayAdvert.Open(forged, SignatureVerifier.Default);

        open.Should().Throw<InvalidDataException>().WithMessage("*not signed by the relay*");
    }

    [Fact]
    public void Open_AnotherDomain_ThrowsInvalidDataException()
    {
        byte[] voucher = new ReservationVoucher(_relay.PeerId, _other.PeerId, Issued).Seal(_relay);

        Action open = () => RelayAdvert.Open(voucher, SignatureVerifier.Default);

        open.Should().Throw<InvalidDataException>();
    }

    [Fact]
    public void Open_OverTheSizeCap_ThrowsBeforeParsing()
    {
        byte[] oversized = new byte[RelayAdvert.MaxEnvelopeSize + 1];

        Action open = () => RelayAdvert.Open(oversized, SignatureVerifier.Default);

        open.Should().Throw<InvalidDataException>().WithMessage("*over the 1024-byte cap*");
    }

    [Fact]
    public void Open_Truncated_ThrowsInvalidDataException()
    {
        byte[] sealedAdvert = Advert().Seal(_relay);

        Action open = () => RelayAdvert.Open(sealedAdvert.AsSpan(0, sealedAdvert.Length - 5), SignatureVerifier.Default);

        open.Should().Throw<InvalidDataException>();
    }

    private static readonly Dictionary<string, Action<AdvertMessage>> Spoilers = new()
    {
        { "no issue time", m => m.ClearIssuedAtMs() },
        { "no ttl", m => m.ClearTtlMs() },
        { "zero ttl", m => m.TtlMs = 0 },
        { "ttl over a day", m => m.TtlMs = (ulong)TimeSpan.FromHours(25).TotalMilliseconds },
        { "unknown role", m => m.Role = 3 },
        { "services over 16 bits", m => m.Services = 0x10000 },
        { "relay port over 16 bits", m => m.RelayPort = 70000 },
        { "undecodable address", m => m.Addrs.Add(ByteString.CopyFrom(0xff, 0xff)) },
        { "circuit address", m => m.Addrs.Add(ByteString.CopyFrom(Multiaddr.Parse("/ip4/198.51.100.9/tcp/1/p2p-circuit").ToByteArray())) },
        { "nine addresses", m => m.Addrs.AddRange(Enumerable.Range(2, 8).Select(i => ByteString.CopyFrom(Multiaddr.Parse($"/ip4/198.51.100.{i}/tcp/1").ToByteArray()))) },
        { "invalid relay id", m => m.Relay = ByteString.CopyFrom(1, 2, 3) },
        { "no relay", m => m.ClearRelay() },
    };

    public static TheoryData<string> BadFields => [.. Spoilers.Keys];

    [Theory]
    [MemberData(nameof(BadFields))]
    public void Open_BadField_ThrowsInvalidDataException(string field)
    {
        AdvertMessage message = Message(_relay.PeerId);
        Spoilers[field](message);

        Action open = () => RelayAdvert.Open(SealRaw(_relay, message), SignatureVerifier.Default);

        open.Should().Throw<InvalidDataException>();
    }

    [Fact]
    public void Seal_IdentityOfAnotherPeer_ThrowsArgumentException()
    {
        Action seal = () => Advert().Seal(_other);

        seal.Should().Throw<ArgumentException>();
    }

    [Fact]
    public void Seal_AddressesOverTheSizeCap_ThrowsArgumentException()
    {
        Multiaddr[] longNames = [.. Enumerable.Range(0, 8).Select(i => Multiaddr.Parse($"/dns4/{new string('r', 100)}{i}.example.org/tcp/4001"))];

        Action seal = () => new RelayAdvert(_relay.PeerId, longNames, Issued, TimeSpan.FromMinutes(1)).Seal(_relay);

        seal.Should().Throw<ArgumentException>().WithMessage("*1024-byte cap*");
    }

    [Theory]
    [InlineData(0)]
    [InlineData(25 * 60)]
    public void Constructor_TtlOutOfRange_ThrowsArgumentException(int minutes)
    {
        Action create = () => new RelayAdvert(_relay.PeerId, [], Issued, TimeSpan.FromMinutes(minutes));

        create.Should().Throw<ArgumentException>();
    }

    [Theory]
    [InlineData(-1, true)]
    [InlineData(0, true)]
    [InlineData(29 * 60 + 59, true)]
    [InlineData(30 * 60, false)]
    [InlineData(-4 * 60, true)]
    [InlineData(-6 * 60, false)]
    public void IsValidAt_SecondsAfterIssue_ValidUntilExpiryAndWithinClockSkew(int seconds, bool valid)
    {
        RelayAdvert advert = Advert();

        // Negative offsets: the advert was issued that far in the future of the observer's clock.
        advert.IsValidAt(Issued + TimeSpan.FromSeconds(seconds)).Should().Be(valid);
    }

    [Fact]
    public void IsNewerThan_LaterIssue_True()
    {
        SignedRelayAdvert older = RelayAdvert.Open(Advert().Seal(_relay), SignatureVerifier.Default);
        SignedRelayAdvert newer = RelayAdvert.Open(new RelayAdvert(_relay.PeerId, [], Issued.AddSeconds(1), TimeSpan.FromMinutes(30)).Seal(_relay), SignatureVerifier.Default);

        newer.IsNewerThan(older).Should().BeTrue();
        older.IsNewerThan(newer).Should().BeFalse();
    }

    [Fact]
    public void Metadata_RoundTripsThroughItsFourteenBytes()
    {
        RelayAdvert advert = Advert();
        RelayCapabilityMetadata metadata = advert.ToMetadata();

        byte[] encoded = metadata.ToByteArray();

        encoded.Should().HaveCount(RelayCapabilityMetadata.EncodedLength);
        RelayCapabilityMetadata.TryRead(encoded, out RelayCapabilityMetadata read).Should().BeTrue();
        read.Should().Be(metadata);
        RelayAdvert back = RelayAdvert.FromMetadata(_relay.PeerId, advert.Addresses, read, Issued);
        back.Capacity.Should().Be(64);
        back.RelayPort.Should().Be(4001);
        back.Role.Should().Be(NodeRole.Public);
        back.Services.Should().Be(RelayServices.Relay);
        back.Expires.Should().Be(Issued + TimeSpan.FromMinutes(30));
    }

    [Theory]
    [InlineData("short", new byte[] { 1, 0, 1 })]
    [InlineData("unknown version", new byte[] { 2, 0, 1, 0x0f, 0xa1, 0, 0, 0, 64, 0, 0x1b, 0x77, 0x40, 1 })]
    [InlineData("unknown role", new byte[] { 1, 0, 1, 0x0f, 0xa1, 0, 0, 0, 64, 0, 0x1b, 0x77, 0x40, 7 })]
    public void Metadata_TryRead_Invalid_ReturnsFalse(string name, byte[] bytes)
    {
        _ = name;

        RelayCapabilityMetadata.TryRead(bytes, out _).Should().BeFalse();
    }

    public void Dispose()
    {
        _relay.Dispose();
        _other.Dispose();
    }

    private RelayAdvert Advert() => new(_relay.PeerId, [Multiaddr.Parse("/ip4/198.51.100.1/tcp/4001")], Issued, TimeSpan.FromMinutes(30))
    {
        RelayPort = 4001,
        Capacity = 64,
    };

    private static AdvertMessage Message(PeerId relay)
    {
        var message = new AdvertMessage
        {
            Relay = ByteString.CopyFrom(relay.ToByteArray()),
            Services = 1,
            TtlMs = 60_000,
            IssuedAtMs = (ulong)Issued.ToUnixTimeMilliseconds(),
            Role = 1,
        };
        message.Addrs.Add(ByteString.CopyFrom(Multiaddr.Parse("/ip4/198.51.100.1/tcp/4001").ToByteArray()));
        return message;
    }

    private static byte[] SealRaw(KeyIdentity signer, AdvertMessage message)
        => SignedEnvelope.Seal(signer, RelayAdvert.Domain, RelayAdvert.PayloadType, message.ToByteArray()).ToByteArray();
}
