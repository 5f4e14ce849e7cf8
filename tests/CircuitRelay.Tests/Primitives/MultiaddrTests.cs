using System.Net;
using CircuitRelay.Multiformats;

namespace CircuitRelay.Tests.Primitives;

public sealed class MultiaddrTests
{
    private const string RelayId = PeerIdTests.Ed25519PeerId;
    private const string TargetId = PeerIdTests.Secp256k1PeerId;

    public static TheoryData<string, string> BinaryExamples => new()
    {
        { "/ip4/127.0.0.1/udp/1234", "047f000001910204d2" },
        {
            $"/ip4/198.51.100.1/tcp/4001/p2p/{RelayId}/p2p-circuit/p2p/{TargetId}",
            "04c6336401060fa1a503260024080112201ed1e8fae2c4a144b8be8fd4b47bf3d3b34b871c3cacf6010f0e42d474fce27ea202a50327002508021221037777e994e452c21604f91de093ce415f5432f701dd8cd1a7a6fea0e630bfca99"
        },
        { "/dns4/relay.example.com/udp/4001/quic-v1", "361172656c61792e6578616d706c652e636f6d91020fa1cd03" },
        { "/ip6/2001:db8::1/tcp/443/tls/sni/example.com/ws", "2920010db80000000000000000000000010601bbc003c1030b6578616d706c652e636f6ddd03" },
    };

    public static TheoryData<string> EveryProtocol => new(EveryProtocolTexts);

    private static readonly string[] EveryProtocolTexts =
    [
        "/ip4/192.0.2.7",
        "/ip4/0.0.0.0/tcp/0",
        "/ip4/255.255.255.255/tcp/65535",
        "/ip6/::1/tcp/4001",
        "/ip6/2001:db8::1:0:0:1/udp/9",
        "/ip6zone/eth0/ip6/fe80::1/tcp/80",
        "/dns/example.com/tcp/443/wss",
        "/dns4/example.com/tcp/80/ws",
        "/dns6/example.com/tcp/80/http",
        "/dnsaddr/bootstrap.libp2p.io",
        $"/p2p/{RelayId}",
        $"/p2p/{PeerIdTests.SpecQmPeerId}",
        "/p2p-circuit",
        "/ip4/192.0.2.7/tcp/443/tls/sni/example.com/http",
        "/ip4/192.0.2.7/tcp/4001/noise",
        "/ip4/192.0.2.7/udp/4001/quic",
        "/ip4/192.0.2.7/udp/4001/quic-v1/webtransport/certhash/uEiDDq4_xNyDorZBH3TlGazyJdOWSwvo4PUo5YHFMrvDE8g",
        "/ip4/192.0.2.7/udp/4001/webrtc-direct/certhash/uEiDDq4_xNyDorZBH3TlGazyJdOWSwvo4PUo5YHFMrvDE8g",
        $"/ip4/192.0.2.7/udp/4001/quic-v1/p2p/{RelayId}/p2p-circuit/webrtc/p2p/{TargetId}",
        "/dns/\u00e9xample.com",
    ];

    [Theory]
    [MemberData(nameof(BinaryExamples))]
    public void ToByteArray_DigestExample_MatchesBinary(string text, string hex)
    {
        Multiaddr.Parse(text).ToByteArray().Should().Equal(Convert.FromHexString(hex));
    }

    [Theory]
    [MemberData(nameof(BinaryExamples))]
    public void FromBytes_DigestExample_MatchesText(string text, string hex)
    {
        Multiaddr.FromBytes(Convert.FromHexString(hex)).ToString().Should().Be(text);
    }

    [Theory]
    [MemberData(nameof(EveryProtocol))]
    public void ParseToString_SupportedProtocol_RoundTrips(string text)
    {
        Multiaddr.Parse(text).ToString().Should().Be(text);
    }

    [Theory]
    [MemberData(nameof(EveryProtocol))]
    public void FromBytesToByteArray_SupportedProtocol_RoundTrips(string text)
    {
        Multiaddr addr = Multiaddr.Parse(text);

        Multiaddr decoded = Multiaddr.FromBytes(addr.ToByteArray());

        decoded.Should().Be(addr);
        decoded.ToString().Should().Be(text);
    }

    [Fact]
    public void EveryProtocolData_ProtocolTable_IsFullyCovered()
    {
        var names = EveryProtocolTexts
            .SelectMany(text => Multiaddr.Parse(text).Components)
            .Select(c => c.Name)
            .ToHashSet();

        names.Should().BeEquivalentTo(MultiaddrProtocol.Protocols.Select(p => p.Name));
    }

    [Theory]
    [InlineData("ip4", 0x04)]
    [InlineData("tcp", 0x06)]
    [InlineData("ip6", 0x29)]
    [InlineData("ip6zone", 0x2a)]
    [InlineData("dns", 0x35)]
    [InlineData("dns4", 0x36)]
    [InlineData("dns6", 0x37)]
    [InlineData("dnsaddr", 0x38)]
    [InlineData("udp", 0x0111)]
    [InlineData("p2p-circuit", 0x0122)]
    [InlineData("p2p", 0x01a5)]
    [InlineData("tls", 0x01c0)]
    [InlineData("sni", 0x01c1)]
    [InlineData("noise", 0x01c6)]
    [InlineData("quic", 0x01cc)]
    [InlineData("quic-v1", 0x01cd)]
    [InlineData("webtransport", 0x01d1)]
    [InlineData("certhash", 0x01d2)]
    [InlineData("ws", 0x01dd)]
    [InlineData("wss", 0x01de)]
    [InlineData("webrtc-direct", 0x0118)]
    [InlineData("webrtc", 0x0119)]
    [InlineData("http", 0x01e0)]
    public void ProtocolTable_Name_HasDigestCode(string name, int code)
    {
        MultiaddrProtocol.TryGet(name, out MultiaddrProtocol? protocol).Should().BeTrue();
        protocol!.Code.Should().Be(code);
    }

    [Fact]
    public void Parse_IpfsAlias_IsP2p()
    {
        Multiaddr addr = Multiaddr.Parse($"/ipfs/{RelayId}");

        addr.ToString().Should().Be($"/p2p/{RelayId}");
        addr.Should().Be(Multiaddr.Parse($"/p2p/{RelayId}"));
    }

    [Fact]
    public void Parse_P2pAsCid_EmitsBase58()
    {
        Multiaddr.Parse($"/p2p/{PeerIdTests.Ed25519Cid}").ToString().Should().Be($"/p2p/{RelayId}");
    }

    [Fact]
    public void Parse_CerthashInBase32_EmitsBase64Url()
    {
        byte[] hash = [0x12, 0x20, .. Enumerable.Range(0, 32).Select(i => (byte)i)];

        Multiaddr addr = Multiaddr.Parse("/certhash/" + Multibase.Encode('b', hash));

        addr.Components[0].RawValue.ToArray().Should().Equal(hash);
        addr.ToString().Should().Be("/certhash/" + Multibase.Encode('u', hash));
    }

    [Theory]
    [InlineData("/ip6/2001:DB8:0:0:1:0:0:1", "/ip6/2001:db8::1:0:0:1")]
    [InlineData("/ip6/1:0:0:1:0:0:0:1", "/ip6/1:0:0:1::1")]
    [InlineData("/ip6/2001:db8:0:1:1:1:1:1", "/ip6/2001:db8:0:1:1:1:1:1")]
    [InlineData("/ip6/0:0:0:0:0:0:0:0", "/ip6/::")]
    [InlineData("/ip6/1:0:0:0:0:0:0:0", "/ip6/1::")]
    [InlineData("/ip6/1:0:0:2:0:0:3:4", "/ip6/1::2:0:0:3:4")]
    [InlineData("/ip6/::ffff:192.0.2.1", "/ip6/::ffff:192.0.2.1")]
    [InlineData("/ip6/::ffff:c000:201", "/ip6/::ffff:192.0.2.1")]
    [InlineData("/ip6/::1.2.3.4", "/ip6/::102:304")]
    [InlineData("/ip6/0001:0002::", "/ip6/1:2::")]
    [InlineData("/tcp/0080", "/tcp/80")]
    [InlineData("/ip4/1.2.3.4/tcp/80/", "/ip4/1.2.3.4/tcp/80")]
    public void ToString_NonCanonicalInput_IsCanonical(string text, string canonical)
    {
        Multiaddr.Parse(text).ToString().Should().Be(canonical);
    }

    [Fact]
    public void FormatIPv6_RandomAddresses_MatchesRfc5952AsFormattedByDotNet()
    {
        var random = new Random(99);
        var bytes = new byte[16];
        for (int i = 0; i < 5000; i++)
        {
            random.NextBytes(bytes);
            for (int g = 0; g < 8; g++)
            {
                if (random.Next(3) != 0)
                {
                    bytes[2 * g] = 0;
                    bytes[(2 * g) + 1] = 0;
                }
            }

            // .NET prints ::/96 and ::ffff:0:0/96 with an embedded IPv4 part; only ::ffff:0:0/96 should be.
            bool dotted = bytes.AsSpan(0, 8).IndexOfAnyExcept((byte)0) < 0
                && ((bytes[8] | bytes[9]) == 0 || (bytes[8] == 0xff && bytes[9] == 0xff && (bytes[10] | bytes[11]) == 0));
            if (dotted)
            {
                continue;
            }

            MultiaddrProtocol.FormatIPv6(bytes).Should().Be(new IPAddress(bytes).ToString());
        }
    }

    [Theory]
    [InlineData("ip4/1.2.3.4")]
    [InlineData("/")]
    [InlineData("//")]
    [InlineData("//ip4/1.2.3.4")]
    [InlineData("/ip4")]
    [InlineData("/ip4/")]
    [InlineData("/ip4/256.0.0.1")]
    [InlineData("/ip4/1.2.3")]
    [InlineData("/ip4/1.2.3.4.5")]
    [InlineData("/ip4/01.2.3.4")]
    [InlineData("/ip4/1.2.3.-1")]
    [InlineData("/ip4/1.2.3.1000")]
    [InlineData("/ip4/::1")]
    [InlineData("/ip4/ 1.2.3.4")]
    [InlineData("/ip4/1.2.3.4 ")]
    [InlineData("/ip4/1..2.3")]
    [InlineData("/ip6/1.2.3.4")]
    [InlineData("/ip6/[::1]")]
    [InlineData("/ip6/::1%eth0")]
    [InlineData("/ip6/1::2::3")]
    [InlineData("/ip6/1:2:3:4:5:6:7:8:9")]
    [InlineData("/ip6/::g")]
    [InlineData("/ip6zone")]
    [InlineData("/tcp/65536")]
    [InlineData("/tcp/-1")]
    [InlineData("/tcp/+1")]
    [InlineData("/tcp/abc")]
    [InlineData("/tcp/123456")]
    [InlineData("/udp/1 ")]
    [InlineData("/udp/\u0661")]
    [InlineData("/tcp")]
    [InlineData("/dns4//tcp/1")]
    [InlineData("/dns4")]
    [InlineData("/sni")]
    [InlineData("/foo/bar")]
    [InlineData("/IP4/1.2.3.4")]
    [InlineData("/p2p/notapeerid")]
    [InlineData("/p2p")]
    [InlineData("/ipfs/xyz")]
    [InlineData("/p2p/bafybeie5745rpv2m6tjyuugywy4d5ewrqgqqhfnf445he3omzpjbx5xqxe")]
    [InlineData("/certhash/xabc")]
    [InlineData("/certhash/uEiD")]
    [InlineData("/certhash")]
    [InlineData("/ip4/1.2.3.4//tcp/1")]
    [InlineData("/ip4/1.2.3.4/tcp/1//")]
    [InlineData("/p2p-circuit/extra")]
    [InlineData(" /ip4/1.2.3.4")]
    public void Parse_Malformed_ThrowsFormatException(string text)
    {
        Action act = () => Multiaddr.Parse(text);
        act.Should().Throw<FormatException>();
        Multiaddr.TryParse(text, out Multiaddr? addr).Should().BeFalse();
        addr.Should().BeNull();
    }

    [Theory]
    [InlineData("047f00")]
    [InlineData("0601")]
    [InlineData("29000000")]
    [InlineData("ff")]
    [InlineData("8100")]
    [InlineData("ffffffffffffffffff01")]
    [InlineData("07")]
    [InlineData("00")]
    [InlineData("35")]
    [InlineData("3580")]
    [InlineData("3505616263")]
    [InlineData("3500")]
    [InlineData("3503612f62")]
    [InlineData("3502c328")]
    [InlineData("3503eda080")]
    [InlineData("2a00")]
    [InlineData("a503050001020304")]
    [InlineData("a50300")]
    [InlineData("a503031300ff")]
    [InlineData("d203021201")]
    [InlineData("d20300")]
    [InlineData("047f000001a2")]
    public void FromBytes_Malformed_ThrowsFormatException(string hex)
    {
        byte[] bytes = Convert.FromHexString(hex);
        Action act = () => Multiaddr.FromBytes(bytes);
        act.Should().Throw<FormatException>();
        Multiaddr.TryFromBytes(bytes, out Multiaddr? addr).Should().BeFalse();
        addr.Should().BeNull();
    }

    [Fact]
    public void Parse_NameWithLoneSurrogate_ThrowsFormatException()
    {
        // Built at run time: xunit would replace the lone surrogate in InlineData with U+FFFD.
        string text = "/dns/a" + (char)0xD800 + "b";
        Action act = () => Multiaddr.Parse(text);
        act.Should().Throw<FormatException>();
    }

    [Fact]
    public void Parse_Null_ThrowsArgumentNull()
    {
        Action act = () => Multiaddr.Parse(null!);
        act.Should().Throw<ArgumentNullException>();
        Multiaddr.TryParse(null, out _).Should().BeFalse();
    }

    [Fact]
    public void Empty_Always_HasNoComponentsAndEmptyForms()
    {
        Multiaddr.Empty.IsEmpty.Should().BeTrue();
        Multiaddr.Empty.Components.Should().BeEmpty();
        Multiaddr.Empty.ToString().Should().BeEmpty();
        Multiaddr.Empty.ToByteArray().Should().BeEmpty();
        Multiaddr.Parse(string.Empty).Should().Be(Multiaddr.Empty);
        Multiaddr.FromBytes([]).Should().Be(Multiaddr.Empty);
    }

    [Fact]
    public void Components_ParsedAddress_ExposeNameCodeValueAndRawValue()
    {
        Multiaddr addr = Multiaddr.Parse($"/ip4/127.0.0.1/udp/1234/p2p/{RelayId}/p2p-circuit");

        addr.Components.Select(c => c.Name).Should().Equal("ip4", "udp", "p2p", "p2p-circuit");
        addr.Components.Select(c => c.Code).Should().Equal(0x04, 0x0111, 0x01a5, 0x0122);
        addr.Components.Select(c => c.Value).Should().Equal("127.0.0.1", "1234", RelayId, null);
        addr.Components[0].RawValue.ToArray().Should().Equal(127, 0, 0, 1);
        addr.Components[1].RawValue.ToArray().Should().Equal(0x04, 0xd2);
        addr.Components[2].RawValue.ToArray().Should().Equal(PeerId.Parse(RelayId).ToByteArray());
        addr.Components[3].RawValue.IsEmpty.Should().BeTrue();
        addr.Components.Select(c => c.ToString()).Should().Equal("/ip4/127.0.0.1", "/udp/1234", $"/p2p/{RelayId}", "/p2p-circuit");
    }

    [Fact]
    public void Components_CastToList_CannotBeModified()
    {
        Multiaddr addr = Multiaddr.Parse("/ip4/1.2.3.4");
        Action act = () => ((IList<MultiaddrComponent>)addr.Components).Clear();
        act.Should().Throw<NotSupportedException>();
    }

    [Fact]
    public void ToByteArray_Mutated_DoesNotChangeTheAddress()
    {
        Multiaddr addr = Multiaddr.Parse("/ip4/1.2.3.4");
        byte[] bytes = addr.ToByteArray();
        bytes[1] = 9;

        addr.ToString().Should().Be("/ip4/1.2.3.4");
    }

    [Fact]
    public void Equality_SameBinaryForm_EqualWithSameHash()
    {
        Multiaddr a = Multiaddr.Parse("/ip6/2001:DB8::1/tcp/0080");
        Multiaddr b = Multiaddr.Parse("/ip6/2001:db8:0::1/tcp/80");

        a.Should().Be(b);
        (a == b).Should().BeTrue();
        (a != b).Should().BeFalse();
        a.GetHashCode().Should().Be(b.GetHashCode());
    }

    [Fact]
    public void Equality_DifferentAddresses_NotEqual()
    {
        Multiaddr a = Multiaddr.Parse("/ip4/1.2.3.4/tcp/80");
        Multiaddr b = Multiaddr.Parse("/ip4/1.2.3.4/udp/80");

        a.Equals(b).Should().BeFalse();
        (a != b).Should().BeTrue();
        a.Equals((object?)null).Should().BeFalse();
    }

    [Fact]
    public void Has_ProtocolPresentOrAbsent_Answers()
    {
        Multiaddr addr = Multiaddr.Parse($"/ip4/1.2.3.4/tcp/80/p2p/{RelayId}");

        addr.Has("tcp").Should().BeTrue();
        addr.Has("ipfs").Should().BeTrue();
        addr.Has("udp").Should().BeFalse();
        addr.Has("nonsense").Should().BeFalse();
    }

    [Fact]
    public void IsRelayed_CircuitAddress_True()
    {
        Multiaddr.Parse($"/p2p/{RelayId}/p2p-circuit").IsRelayed.Should().BeTrue();
        Multiaddr.Parse($"/ip4/1.2.3.4/tcp/1/p2p/{RelayId}").IsRelayed.Should().BeFalse();
    }

    [Fact]
    public void Encapsulate_Multiaddr_Appends()
    {
        Multiaddr addr = Multiaddr.Parse("/ip4/1.2.3.4").Encapsulate(Multiaddr.Parse("/tcp/80/ws"));

        addr.Should().Be(Multiaddr.Parse("/ip4/1.2.3.4/tcp/80/ws"));
        addr.Components.Should().HaveCount(3);
    }

    [Fact]
    public void Encapsulate_Text_Appends()
    {
        Multiaddr.Parse("/ip4/1.2.3.4").Encapsulate("/tcp/80").ToString().Should().Be("/ip4/1.2.3.4/tcp/80");
    }

    [Fact]
    public void Encapsulate_Empty_ReturnsSameAddress()
    {
        Multiaddr addr = Multiaddr.Parse("/ip4/1.2.3.4");

        addr.Encapsulate(Multiaddr.Empty).Should().Be(addr);
        Multiaddr.Empty.Encapsulate(addr).Should().Be(addr);
    }

    [Fact]
    public void Encapsulate_MalformedText_ThrowsFormatException()
    {
        Action act = () => Multiaddr.Parse("/ip4/1.2.3.4").Encapsulate("/tcp/99999");
        act.Should().Throw<FormatException>();
    }

    [Theory]
    [InlineData("p2p", $"/ip4/1.2.3.4/tcp/80/p2p/{RelayId}/p2p-circuit")]
    [InlineData("ipfs", $"/ip4/1.2.3.4/tcp/80/p2p/{RelayId}/p2p-circuit")]
    [InlineData("p2p-circuit", $"/ip4/1.2.3.4/tcp/80/p2p/{RelayId}")]
    [InlineData("tcp", "/ip4/1.2.3.4")]
    [InlineData("ip4", "")]
    [InlineData("ws", $"/ip4/1.2.3.4/tcp/80/p2p/{RelayId}/p2p-circuit/p2p/{TargetId}")]
    public void Decapsulate_ProtocolName_CutsAtLastOccurrence(string protocol, string expected)
    {
        Multiaddr addr = Multiaddr.Parse($"/ip4/1.2.3.4/tcp/80/p2p/{RelayId}/p2p-circuit/p2p/{TargetId}");

        addr.Decapsulate(protocol).ToString().Should().Be(expected);
    }

    [Fact]
    public void Decapsulate_UnknownProtocolName_ThrowsArgumentException()
    {
        Action act = () => Multiaddr.Parse("/ip4/1.2.3.4").Decapsulate("/tcp");
        act.Should().Throw<ArgumentException>();
    }

    [Fact]
    public void Decapsulate_Multiaddr_CutsAtLastOccurrenceOfTheSequence()
    {
        Multiaddr addr = Multiaddr.Parse("/ip4/1.2.3.4/tcp/80/ws/ip4/1.2.3.4/tcp/80/wss");

        addr.Decapsulate(Multiaddr.Parse("/ip4/1.2.3.4/tcp/80")).ToString().Should().Be("/ip4/1.2.3.4/tcp/80/ws");
    }

    [Fact]
    public void Decapsulate_MultiaddrWithDifferentValue_ReturnsUnchanged()
    {
        Multiaddr addr = Multiaddr.Parse("/ip4/1.2.3.4/tcp/80/ws");

        addr.Decapsulate(Multiaddr.Parse("/tcp/81")).Should().Be(addr);
        addr.Decapsulate(Multiaddr.Parse("/tcp/80/wss")).Should().Be(addr);
        addr.Decapsulate(Multiaddr.Empty).Should().Be(addr);
    }

    [Fact]
    public void Decapsulate_WholeAddress_ReturnsEmpty()
    {
        Multiaddr addr = Multiaddr.Parse("/ip4/1.2.3.4/tcp/80");

        addr.Decapsulate(addr).IsEmpty.Should().BeTrue();
    }

    [Fact]
    public void GetPeerId_SeveralP2pComponents_ReturnsLast()
    {
        Multiaddr addr = Multiaddr.Parse($"/p2p/{RelayId}/p2p-circuit/p2p/{TargetId}");

        addr.GetPeerId().Should().Be(PeerId.Parse(TargetId));
        addr.Decapsulate("p2p-circuit").GetPeerId().Should().Be(PeerId.Parse(RelayId));
        Multiaddr.Parse("/ip4/1.2.3.4").GetPeerId().Should().BeNull();
    }

    [Fact]
    public void WithPeerId_NoPeerId_Appends()
    {
        Multiaddr addr = Multiaddr.Parse("/ip4/1.2.3.4/tcp/1").WithPeerId(PeerId.Parse(RelayId));

        addr.ToString().Should().Be($"/ip4/1.2.3.4/tcp/1/p2p/{RelayId}");
        addr.ToByteArray().Should().Equal(Multiaddr.Parse($"/ip4/1.2.3.4/tcp/1/p2p/{RelayId}").ToByteArray());
    }

    [Fact]
    public void WithPeerId_AlreadyEndsWithThatId_ReturnsUnchanged()
    {
        Multiaddr addr = Multiaddr.Parse($"/ip4/1.2.3.4/tcp/1/p2p/{RelayId}");

        addr.WithPeerId(PeerId.Parse(PeerIdTests.Ed25519Cid)).Should().Be(addr);
    }

    [Fact]
    public void WithPeerId_EndsWithAnotherId_ThrowsArgumentException()
    {
        Multiaddr addr = Multiaddr.Parse($"/ip4/1.2.3.4/tcp/1/p2p/{RelayId}");
        Action act = () => addr.WithPeerId(PeerId.Parse(TargetId));
        act.Should().Throw<ArgumentException>();
    }

    [Fact]
    public void WithPeerId_AfterCircuit_Appends()
    {
        Multiaddr addr = Multiaddr.Parse($"/p2p/{RelayId}/p2p-circuit").WithPeerId(PeerId.Parse(TargetId));

        addr.ToString().Should().Be($"/p2p/{RelayId}/p2p-circuit/p2p/{TargetId}");
    }

    [Fact]
    public void WithoutPeerId_TrailingId_Removed()
    {
        Multiaddr.Parse($"/ip4/1.2.3.4/tcp/1/p2p/{RelayId}").WithoutPeerId().ToString().Should().Be("/ip4/1.2.3.4/tcp/1");
        Multiaddr.Parse("/ip4/1.2.3.4/tcp/1").WithoutPeerId().ToString().Should().Be("/ip4/1.2.3.4/tcp/1");
        Multiaddr.Parse($"/p2p/{RelayId}/p2p-circuit").WithoutPeerId().ToString().Should().Be($"/p2p/{RelayId}/p2p-circuit");
    }

    [Fact]
    public void TryGetIPAddress_IpAddresses_ReturnsFirst()
    {
        Multiaddr.Parse("/dns4/x.org/ip4/10.0.0.1/ip6/::1").TryGetIPAddress(out IPAddress? address).Should().BeTrue();
        address.Should().Be(IPAddress.Parse("10.0.0.1"));

        Multiaddr.Parse("/ip6/2001:db8::1/tcp/1").TryGetIPAddress(out address).Should().BeTrue();
        address.Should().Be(IPAddress.Parse("2001:db8::1"));

        Multiaddr.Parse("/dns4/x.org/tcp/1").TryGetIPAddress(out address).Should().BeFalse();
        address.Should().BeNull();
    }

    [Fact]
    public void TryGetIPAddress_NumericZone_SetsScopeId()
    {
        Multiaddr.Parse("/ip6zone/3/ip6/fe80::1/tcp/1").TryGetIPAddress(out IPAddress? address).Should().BeTrue();

        address!.ScopeId.Should().Be(3);
    }

    [Theory]
    [InlineData("/ip4/10.0.0.1/tcp/4001", "10.0.0.1:4001")]
    [InlineData("/ip4/10.0.0.1/tcp/4001/ws", "10.0.0.1:4001")]
    [InlineData("/ip6/::1/tcp/443", "[::1]:443")]
    public void TryGetIPEndPoint_IpThenTcp_ReturnsEndPoint(string text, string expected)
    {
        Multiaddr.Parse(text).TryGetIPEndPoint(out IPEndPoint? endPoint).Should().BeTrue();

        endPoint.Should().Be(IPEndPoint.Parse(expected));
    }

    [Theory]
    [InlineData("/ip4/10.0.0.1/udp/4001")]
    [InlineData("/ip4/10.0.0.1")]
    [InlineData("/dns4/example.com/tcp/80")]
    [InlineData("/ip4/10.0.0.1/ws/tcp/80")]
    public void TryGetIPEndPoint_NoIpFollowedByTcp_ReturnsFalse(string text)
    {
        Multiaddr.Parse(text).TryGetIPEndPoint(out IPEndPoint? endPoint).Should().BeFalse();
        endPoint.Should().BeNull();
    }

    [Theory]
    [InlineData("192.0.2.1:4001", "/ip4/192.0.2.1/tcp/4001")]
    [InlineData("[2001:db8::1]:443", "/ip6/2001:db8::1/tcp/443")]
    [InlineData("[::ffff:192.0.2.1]:80", "/ip4/192.0.2.1/tcp/80")]
    [InlineData("[fe80::1%7]:80", "/ip6zone/7/ip6/fe80::1/tcp/80")]
    public void FromIPEndPoint_EndPoint_BuildsTcpAddress(string endPoint, string expected)
    {
        Multiaddr.FromIPEndPoint(IPEndPoint.Parse(endPoint)).Should().Be(Multiaddr.Parse(expected));
    }

    [Fact]
    public void FromIPEndPoint_RoundTripsThroughTryGetIPEndPoint()
    {
        var endPoint = new IPEndPoint(IPAddress.Parse("203.0.113.9"), 65535);

        Multiaddr.FromIPEndPoint(endPoint).TryGetIPEndPoint(out IPEndPoint? back).Should().BeTrue();

        back.Should().Be(endPoint);
    }

    [Fact]
    public void CreateCircuit_RelayAddressWithoutId_MatchesDigestExample()
    {
        Multiaddr circuit = Multiaddr.CreateCircuit(Multiaddr.Parse("/ip4/198.51.100.1/tcp/4001"), PeerId.Parse(RelayId), PeerId.Parse(TargetId));

        circuit.ToString().Should().Be($"/ip4/198.51.100.1/tcp/4001/p2p/{RelayId}/p2p-circuit/p2p/{TargetId}");
        circuit.ToByteArray().Should().Equal(Convert.FromHexString((string)BinaryExamples.ElementAt(1)[1]));
    }

    [Fact]
    public void CreateCircuit_RelayAddressEndsWithRelayId_DoesNotDuplicateIt()
    {
        Multiaddr circuit = Multiaddr.CreateCircuit(Multiaddr.Parse($"/ip4/198.51.100.1/tcp/4001/p2p/{RelayId}"), PeerId.Parse(RelayId), PeerId.Parse(TargetId));

        circuit.ToString().Should().Be($"/ip4/198.51.100.1/tcp/4001/p2p/{RelayId}/p2p-circuit/p2p/{TargetId}");
    }

    [Fact]
    public void CreateCircuit_RelayAddressEndsWithAnotherId_ThrowsArgumentException()
    {
        Action act = () => Multiaddr.CreateCircuit(Multiaddr.Parse($"/ip4/198.51.100.1/tcp/4001/p2p/{TargetId}"), PeerId.Parse(RelayId), PeerId.Parse(TargetId));
        act.Should().Throw<ArgumentException>();
    }

    [Fact]
    public void CreateCircuit_RelayAddressAlreadyRelayed_ThrowsArgumentException()
    {
        Action act = () => Multiaddr.CreateCircuit(Multiaddr.Parse($"/p2p/{TargetId}/p2p-circuit"), PeerId.Parse(RelayId), PeerId.Parse(TargetId));
        act.Should().Throw<ArgumentException>();
    }

    [Fact]
    public void TrySplitCircuit_FullCircuit_ReturnsRelayAddressRelayAndTarget()
    {
        Multiaddr addr = Multiaddr.Parse($"/ip4/198.51.100.1/tcp/4001/p2p/{RelayId}/p2p-circuit/p2p/{TargetId}");

        addr.TrySplitCircuit(out Multiaddr? relayAddress, out PeerId? relay, out PeerId? target).Should().BeTrue();

        relayAddress!.ToString().Should().Be($"/ip4/198.51.100.1/tcp/4001/p2p/{RelayId}");
        relay.Should().Be(PeerId.Parse(RelayId));
        target.Should().Be(PeerId.Parse(TargetId));
    }

    [Fact]
    public void TrySplitCircuit_NoDestination_TargetIsNull()
    {
        Multiaddr addr = Multiaddr.Parse($"/ip4/198.51.100.1/tcp/4001/p2p/{RelayId}/p2p-circuit");

        addr.TrySplitCircuit(out Multiaddr? relayAddress, out PeerId? relay, out PeerId? target).Should().BeTrue();

        relayAddress!.ToString().Should().Be($"/ip4/198.51.100.1/tcp/4001/p2p/{RelayId}");
        relay.Should().Be(PeerId.Parse(RelayId));
        target.Should().BeNull();
    }

    [Fact]
    public void TrySplitCircuit_OnlyRelayId_Accepted()
    {
        Multiaddr addr = Multiaddr.Parse($"/p2p/{RelayId}/p2p-circuit/p2p/{TargetId}");

        addr.TrySplitCircuit(out Multiaddr? relayAddress, out PeerId? relay, out _).Should().BeTrue();

        relayAddress!.ToString().Should().Be($"/p2p/{RelayId}");
        relay.Should().Be(PeerId.Parse(RelayId));
    }

    [Theory]
    [InlineData($"/ip4/198.51.100.1/tcp/4001/p2p/{RelayId}")]
    [InlineData($"/p2p-circuit/p2p/{TargetId}")]
    [InlineData("/p2p-circuit")]
    [InlineData($"/ip4/198.51.100.1/tcp/4001/p2p-circuit/p2p/{TargetId}")]
    [InlineData($"/p2p/{RelayId}/ws/p2p-circuit/p2p/{TargetId}")]
    [InlineData($"/p2p/{RelayId}/p2p-circuit/p2p/{TargetId}/ws")]
    [InlineData($"/p2p/{RelayId}/p2p-circuit/ip4/1.2.3.4/tcp/1/p2p/{TargetId}")]
    [InlineData($"/p2p/{RelayId}/p2p-circuit/ip4/1.2.3.4")]
    [InlineData($"/p2p/{RelayId}/p2p-circuit/p2p/{TargetId}/p2p-circuit/p2p/{RelayId}")]
    [InlineData($"/p2p/{RelayId}/p2p-circuit/p2p-circuit")]
    [InlineData("")]
    public void TrySplitCircuit_NotASingleHopCircuit_ReturnsFalse(string text)
    {
        Multiaddr.Parse(text).TrySplitCircuit(out Multiaddr? relayAddress, out PeerId? relay, out PeerId? target).Should().BeFalse();

        relayAddress.Should().BeNull();
        relay.Should().BeNull();
        target.Should().BeNull();
    }

    [Fact]
    public void TrySplitCircuit_OfCreateCircuit_GivesBackTheParts()
    {
        Multiaddr relayAddress = Multiaddr.Parse("/dns4/relay.example.com/udp/4001/quic-v1");
        PeerId relay = PeerId.Parse(RelayId);
        PeerId target = PeerId.Parse(TargetId);

        Multiaddr.CreateCircuit(relayAddress, relay, target).TrySplitCircuit(out Multiaddr? left, out PeerId? r, out PeerId? t).Should().BeTrue();

        left.Should().Be(relayAddress.WithPeerId(relay));
        r.Should().Be(relay);
        t.Should().Be(target);
    }
}
