using System.Buffers;
using CircuitRelay.ReferenceHost.Encoding;

namespace CircuitRelay.ReferenceHost.Tests.Multistream;

public sealed class UvarintTests
{
    [Theory]
    [InlineData(1UL, "01")]
    [InlineData(127UL, "7F")]
    [InlineData(128UL, "8001")]
    [InlineData(255UL, "FF01")]
    [InlineData(300UL, "AC02")]
    [InlineData(16384UL, "808001")]
    public void Write_DigestExamples_MatchExactBytes(ulong value, string hex)
    {
        byte[] buffer = new byte[Uvarint.MaxLength];

        int written = Uvarint.Write(buffer, value);

        Convert.ToHexString(buffer, 0, written).Should().Be(hex);
        Uvarint.GetLength(value).Should().Be(written);
    }

    [Theory]
    [InlineData("01", 1UL)]
    [InlineData("AC02", 300UL)]
    [InlineData("808001", 16384UL)]
    [InlineData("00", 0UL)]
    public void TryRead_DigestExamples_DecodeAndConsumeExactly(string hex, ulong expected)
    {
        byte[] bytes = [.. Convert.FromHexString(hex), 0xEE];
        var reader = new SequenceReader<byte>(new ReadOnlySequence<byte>(bytes));

        bool complete = Uvarint.TryRead(ref reader, out ulong value);

        complete.Should().BeTrue();
        value.Should().Be(expected);
        reader.Consumed.Should().Be(bytes.Length - 1);
    }

    [Fact]
    public void TryRead_NonMinimalEncoding_ThrowsInvalidData()
    {
        byte[] bytes = [0x81, 0x00];

        Action read = () =>
        {
            var reader = new SequenceReader<byte>(new ReadOnlySequence<byte>(bytes));
            Uvarint.TryRead(ref reader, out _);
        };

        read.Should().Throw<InvalidDataException>();
    }

    [Fact]
    public void TryRead_TenByteVarint_ThrowsInvalidData()
    {
        byte[] bytes = [0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01];

        Action read = () =>
        {
            var reader = new SequenceReader<byte>(new ReadOnlySequence<byte>(bytes));
            Uvarint.TryRead(ref reader, out _);
        };

        read.Should().Throw<InvalidDataException>();
    }

    [Fact]
    public void TryRead_Incomplete_ReturnsFalseAndConsumesNothing()
    {
        byte[] bytes = [0x80, 0x80];
        var reader = new SequenceReader<byte>(new ReadOnlySequence<byte>(bytes));

        bool complete = Uvarint.TryRead(ref reader, out _);

        complete.Should().BeFalse();
        reader.Consumed.Should().Be(0);
    }
}
