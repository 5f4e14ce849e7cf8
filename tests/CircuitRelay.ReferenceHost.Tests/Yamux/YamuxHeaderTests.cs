using System.Buffers;
using CircuitRelay.ReferenceHost.Yamux;

namespace CircuitRelay.ReferenceHost.Tests.Yamux;

public sealed class YamuxHeaderTests
{
    [Fact]
    public void Write_NewClientStreamWindowUpdate_MatchesDigestExample()
    {
        byte[] bytes = new byte[YamuxHeader.Size];

        new YamuxHeader(YamuxFrameType.WindowUpdate, YamuxFlags.Syn, 1, 0).Write(bytes);

        Convert.ToHexString(bytes).Should().Be("000100010000000100000000");
    }

    [Fact]
    public void Write_AllFields_AreBigEndian()
    {
        byte[] bytes = new byte[YamuxHeader.Size];

        new YamuxHeader(YamuxFrameType.GoAway, YamuxFlags.Ack | YamuxFlags.Rst, 0x01020304, 0x0A0B0C0D).Write(bytes);

        Convert.ToHexString(bytes).Should().Be("0003000A010203040A0B0C0D");
    }

    [Fact]
    public void Parse_WrittenHeader_RoundTrips()
    {
        var header = new YamuxHeader(YamuxFrameType.Data, YamuxFlags.Fin, 7, 65536);
        byte[] bytes = new byte[YamuxHeader.Size];
        header.Write(bytes);

        YamuxHeader parsed = YamuxHeader.Parse(bytes);

        parsed.Should().Be(header);
    }

    [Fact]
    public void Parse_VersionOne_ThrowsInvalidData()
    {
        byte[] bytes = Convert.FromHexString("010100010000000100000000");

        Action parse = () => YamuxHeader.Parse(bytes);

        parse.Should().Throw<InvalidDataException>().WithMessage("*version*");
    }

    [Fact]
    public void Parse_TypeFour_ThrowsInvalidData()
    {
        byte[] bytes = Convert.FromHexString("000400000000000000000000");

        Action parse = () => YamuxHeader.Parse(bytes);

        parse.Should().Throw<InvalidDataException>().WithMessage("*type*");
    }

    [Fact]
    public void TryRead_ElevenBytes_ReturnsFalse()
    {
        var buffer = new ReadOnlySequence<byte>(new byte[11]);

        bool complete = YamuxHeader.TryRead(buffer, out _);

        complete.Should().BeFalse();
    }
}
