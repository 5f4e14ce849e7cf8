using System.Buffers;
using CircuitRelay.Multiformats;

namespace CircuitRelay.Tests.Primitives;

public sealed class VarintTests
{
    [Theory]
    [InlineData(0UL, "00")]
    [InlineData(1UL, "01")]
    [InlineData(127UL, "7f")]
    [InlineData(128UL, "8001")]
    [InlineData(255UL, "ff01")]
    [InlineData(300UL, "ac02")]
    [InlineData(16384UL, "808001")]
    [InlineData(0x7FFFFFFFFFFFFFFFUL, "ffffffffffffffff7f")]
    public void Encode_SpecExample_ProducesExpectedBytes(ulong value, string hex)
    {
        Varint.Encode(value).Should().Equal(Convert.FromHexString(hex));
        Varint.GetByteCount(value).Should().Be(hex.Length / 2);
    }

    [Theory]
    [InlineData("01", 1UL)]
    [InlineData("7f", 127UL)]
    [InlineData("8001", 128UL)]
    [InlineData("ff01", 255UL)]
    [InlineData("ac02", 300UL)]
    [InlineData("808001", 16384UL)]
    public void Read_SpecExample_ReturnsValueAndLength(string hex, ulong expected)
    {
        byte[] bytes = Convert.FromHexString(hex + "ffff");
        Varint.Read(bytes, out int read).Should().Be(expected);
        read.Should().Be(hex.Length / 2);
    }

    [Fact]
    public void EncodeRead_RandomValues_RoundTrip()
    {
        var random = new Random(12345);
        var values = new List<ulong> { 0, 1, 127, 128, (1UL << 56) - 1, 1UL << 56, (1UL << 63) - 1 };
        for (int i = 0; i < 2000; i++)
        {
            int bits = random.Next(0, 64);
            values.Add((ulong)random.NextInt64() >> (63 - bits));
        }

        foreach (ulong value in values)
        {
            byte[] encoded = Varint.Encode(value);
            Varint.Read(encoded, out int read).Should().Be(value);
            read.Should().Be(encoded.Length);
        }
    }

    [Fact]
    public void Write_ValueAtLeast2Pow63_ThrowsArgumentOutOfRange()
    {
        Action act = () => Varint.Write(new byte[16], 1UL << 63);
        act.Should().Throw<ArgumentOutOfRangeException>();
    }

    [Fact]
    public void Encode_ValueAtLeast2Pow63_ThrowsArgumentOutOfRange()
    {
        Action act = () => Varint.Encode(ulong.MaxValue);
        act.Should().Throw<ArgumentOutOfRangeException>();
    }

    [Fact]
    public void Write_DestinationTooSmall_ThrowsArgumentException()
    {
        Action act = () => Varint.Write(new byte[1], 300);
        act.Should().Throw<ArgumentException>().Which.Should().NotBeOfType<ArgumentOutOfRangeException>();
    }

    [Fact]
    public void Write_LargeEnoughDestination_ReturnsBytesWritten()
    {
        var buffer = new byte[Varint.MaxLength];
        Varint.Write(buffer, 300).Should().Be(2);
        buffer[..2].Should().Equal(0xac, 0x02);
    }

    [Theory]
    [InlineData("8100")]
    [InlineData("8000")]
    [InlineData("ff8000")]
    public void Read_NonMinimal_ThrowsFormatException(string hex)
    {
        Action act = () => Varint.Read(Convert.FromHexString(hex), out _);
        act.Should().Throw<FormatException>().WithMessage("*minimal*");
    }

    [Fact]
    public void Read_TenBytes_ThrowsFormatException()
    {
        byte[] bytes = Convert.FromHexString("ffffffffffffffffff01");
        Action act = () => Varint.Read(bytes, out _);
        act.Should().Throw<FormatException>();
    }

    [Fact]
    public void TryRead_NineContinuationBytes_ThrowsFormatException()
    {
        byte[] bytes = Convert.FromHexString("808080808080808080");
        Action act = () => Varint.TryRead(bytes, out _, out _);
        act.Should().Throw<FormatException>();
    }

    [Theory]
    [InlineData("")]
    [InlineData("80")]
    [InlineData("ff80")]
    [InlineData("8080808080808080")]
    public void Read_Truncated_ThrowsFormatException(string hex)
    {
        Action act = () => Varint.Read(Convert.FromHexString(hex), out _);
        act.Should().Throw<FormatException>().WithMessage("*truncated*");
    }

    [Theory]
    [InlineData("")]
    [InlineData("80")]
    [InlineData("ff80")]
    public void TryRead_Incomplete_ReturnsFalse(string hex)
    {
        Varint.TryRead(Convert.FromHexString(hex), out ulong value, out int read).Should().BeFalse();
        value.Should().Be(0);
        read.Should().Be(0);
    }

    [Fact]
    public void TryRead_NonMinimal_ThrowsFormatException()
    {
        Action act = () => Varint.TryRead(Convert.FromHexString("8100"), out _, out _);
        act.Should().Throw<FormatException>();
    }

    [Fact]
    public void TryReadSequence_Incomplete_DoesNotAdvance()
    {
        var reader = new SequenceReader<byte>(MultiSegment(new byte[] { 0x80 }, new byte[] { 0x80 }));
        Varint.TryRead(ref reader, out _).Should().BeFalse();
        reader.Consumed.Should().Be(0);
    }

    [Fact]
    public void TryReadSequence_SplitAcrossSegments_ReadsAndAdvances()
    {
        var reader = new SequenceReader<byte>(MultiSegment(new byte[] { 0x80 }, new byte[] { 0x80 }, new byte[] { 0x01, 0x42 }));
        Varint.TryRead(ref reader, out ulong value).Should().BeTrue();
        value.Should().Be(16384);
        reader.Consumed.Should().Be(3);
        reader.TryRead(out byte next).Should().BeTrue();
        next.Should().Be(0x42);
    }

    [Fact]
    public void TryReadSequence_NonMinimal_ThrowsFormatException()
    {
        var sequence = MultiSegment(new byte[] { 0x81 }, new byte[] { 0x00 });
        Action act = () =>
        {
            var reader = new SequenceReader<byte>(sequence);
            Varint.TryRead(ref reader, out _);
        };
        act.Should().Throw<FormatException>();
    }

    [Fact]
    public void TryReadSequence_TenBytesInOneSegment_ThrowsFormatException()
    {
        var sequence = new ReadOnlySequence<byte>(Convert.FromHexString("ffffffffffffffffff01"));
        Action act = () =>
        {
            var reader = new SequenceReader<byte>(sequence);
            Varint.TryRead(ref reader, out _);
        };
        act.Should().Throw<FormatException>();
    }

    internal static ReadOnlySequence<byte> MultiSegment(params byte[][] segments)
    {
        var first = new Segment(segments[0], 0);
        Segment last = first;
        for (int i = 1; i < segments.Length; i++)
        {
            last = last.Append(segments[i]);
        }

        return new ReadOnlySequence<byte>(first, 0, last, last.Memory.Length);
    }

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(ReadOnlyMemory<byte> memory, long runningIndex)
        {
            Memory = memory;
            RunningIndex = runningIndex;
        }

        public Segment Append(ReadOnlyMemory<byte> memory)
        {
            var next = new Segment(memory, RunningIndex + Memory.Length);
            Next = next;
            return next;
        }
    }
}
