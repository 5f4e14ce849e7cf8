using CircuitRelay.Protocols.Identify;
using Google.Protobuf;
using IdentifyMessage = CircuitRelay.Protocols.Identify.Pb.Identify;

namespace CircuitRelay.Protocols.Tests.Identify;

public sealed class IdentifyCodecTests
{
    [Fact]
    public void Message_AllFields_UsesDigestTags()
    {
        var message = new IdentifyMessage
        {
            PublicKey = ByteString.CopyFrom(0xaa),
            ObservedAddr = ByteString.CopyFrom(0xbb),
            ProtocolVersion = "p",
            AgentVersion = "a",
            SignedPeerRecord = ByteString.CopyFrom(0xcc),
        };
        message.ListenAddrs.Add(ByteString.CopyFrom(0xdd));
        message.Protocols.Add("q");

        Convert.ToHexString(message.ToByteArray()).Should().Be("0A01AA" + "1201DD" + "1A0171" + "2201BB" + "2A0170" + "320161" + "4201CC");
    }

    [Fact]
    public void Trim_AddressesOverLimit_DropsAddressesFromTheEnd()
    {
        IdentifyMessage message = MessageWith(addresses: 100, protocols: 2);

        (int addresses, int protocols) = IdentifyCodec.Trim(message, 512);

        message.CalculateSize().Should().BeLessThanOrEqualTo(512);
        addresses.Should().BeGreaterThan(0);
        protocols.Should().Be(0);
        message.ListenAddrs[0].Should().Equal(ByteString.CopyFrom(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0));
        message.Protocols.Should().HaveCount(2);
    }

    [Fact]
    public void Trim_StillOverLimitWithoutAddresses_DropsProtocols()
    {
        IdentifyMessage message = MessageWith(addresses: 3, protocols: 100);

        (int addresses, int protocols) = IdentifyCodec.Trim(message, 512);

        message.CalculateSize().Should().BeLessThanOrEqualTo(512);
        addresses.Should().Be(3);
        protocols.Should().BeGreaterThan(0);
        message.Protocols[0].Should().Be("/protocol/0/1.0.0");
    }

    [Fact]
    public void Trim_UnderLimit_LeavesMessageUnchanged()
    {
        IdentifyMessage message = MessageWith(addresses: 2, protocols: 2);
        var copy = message.Clone();

        (int addresses, int protocols) = IdentifyCodec.Trim(message, 4096);

        (addresses, protocols).Should().Be((0, 0));
        message.Should().Be(copy);
    }

    private static IdentifyMessage MessageWith(int addresses, int protocols)
    {
        var message = new IdentifyMessage { AgentVersion = "agent/1.0" };
        for (int i = 0; i < addresses; i++)
        {
            byte[] bytes = new byte[20];
            bytes[0] = (byte)i;
            message.ListenAddrs.Add(ByteString.CopyFrom(bytes));
        }

        for (int i = 0; i < protocols; i++)
        {
            message.Protocols.Add($"/protocol/{i}/1.0.0");
        }

        return message;
    }
}
