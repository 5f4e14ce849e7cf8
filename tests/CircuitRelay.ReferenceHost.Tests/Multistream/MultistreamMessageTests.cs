using System.Buffers;
using System.IO.Pipelines;
using CircuitRelay.ReferenceHost.Multistream;
using CircuitRelay.ReferenceHost.Tests.TestSupport;

namespace CircuitRelay.ReferenceHost.Tests.Multistream;

public sealed class MultistreamMessageTests
{
    [Theory]
    [InlineData("/multistream/1.0.0", "132F6D756C746973747265616D2F312E302E300A")]
    [InlineData("/noise", "072F6E6F6973650A")]
    [InlineData("/yamux/1.0.0", "0D2F79616D75782F312E302E300A")]
    [InlineData("na", "036E610A")]
    [InlineData("ls", "036C730A")]
    public void Write_DigestFrames_MatchExactBytes(string message, string hex)
    {
        var pipe = new Pipe();

        MultistreamMessage.Write(pipe.Writer, message);
        pipe.Writer.Complete();

        pipe.Reader.TryRead(out ReadResult result).Should().BeTrue();
        Convert.ToHexString(result.Buffer.ToArray()).Should().Be(hex);
    }

    [Theory]
    [InlineData("/libp2p/circuit/relay/0.2.0/hop", 0x20)]
    [InlineData("/libp2p/circuit/relay/0.2.0/stop", 0x21)]
    [InlineData("/ipfs/id/1.0.0", 0x0F)]
    [InlineData("/ipfs/ping/1.0.0", 0x11)]
    [InlineData("/libp2p/dcutr", 0x0E)]
    [InlineData("/libp2p/autonat/1.0.0", 0x16)]
    public void Write_DigestProtocolIds_HaveDigestLengthPrefix(string message, byte prefix)
    {
        var pipe = new Pipe();

        MultistreamMessage.Write(pipe.Writer, message);
        pipe.Writer.Complete();

        pipe.Reader.TryRead(out ReadResult result).Should().BeTrue();
        byte[] bytes = result.Buffer.ToArray();
        bytes[0].Should().Be(prefix);
        bytes[^1].Should().Be((byte)'\n');
        bytes.Length.Should().Be(prefix + 1);
    }

    [Fact]
    public void Write_FrameOver1024Bytes_ThrowsArgumentException()
    {
        var pipe = new Pipe();

        Action write = () => MultistreamMessage.Write(pipe.Writer, "/" + new string('a', 1023));

        write.Should().Throw<ArgumentException>();
    }

    [Fact]
    public void Write_MessageWithNewline_ThrowsArgumentException()
    {
        var pipe = new Pipe();

        Action write = () => MultistreamMessage.Write(pipe.Writer, "/a\n/b");

        write.Should().Throw<ArgumentException>();
    }

    [Fact]
    public void TryParse_Exactly1024Bytes_Accepted()
    {
        byte[] frame = [0x80, 0x08, .. System.Text.Encoding.ASCII.GetBytes("/" + new string('a', 1022)), (byte)'\n'];

        string? message = MultistreamMessage.TryParse(new ReadOnlySequence<byte>(frame), out _);

        message.Should().HaveLength(1023);
    }

    [Fact]
    public void TryParse_LengthOver1024_ThrowsInvalidDataBeforeBodyArrives()
    {
        byte[] prefixOnly = [0x81, 0x08];

        Action parse = () => MultistreamMessage.TryParse(new ReadOnlySequence<byte>(prefixOnly), out _);

        parse.Should().Throw<InvalidDataException>().WithMessage("*1025*");
    }

    [Fact]
    public void TryParse_MissingTrailingNewline_ThrowsInvalidData()
    {
        byte[] frame = [0x03, (byte)'n', (byte)'a', (byte)'x'];

        Action parse = () => MultistreamMessage.TryParse(new ReadOnlySequence<byte>(frame), out _);

        parse.Should().Throw<InvalidDataException>().WithMessage("*trailing newline*");
    }

    [Fact]
    public void TryParse_ZeroLength_ThrowsInvalidData()
    {
        byte[] frame = [0x00];

        Action parse = () => MultistreamMessage.TryParse(new ReadOnlySequence<byte>(frame), out _);

        parse.Should().Throw<InvalidDataException>();
    }

    [Fact]
    public void TryParse_InvalidUtf8_ThrowsInvalidData()
    {
        byte[] frame = [0x03, 0xC3, 0x28, (byte)'\n'];

        Action parse = () => MultistreamMessage.TryParse(new ReadOnlySequence<byte>(frame), out _);

        parse.Should().Throw<InvalidDataException>();
    }

    [Fact]
    public void TryParse_IncompleteBody_ReturnsNull()
    {
        byte[] frame = [0x07, (byte)'/', (byte)'n', (byte)'o'];

        string? message = MultistreamMessage.TryParse(new ReadOnlySequence<byte>(frame), out _);

        message.Should().BeNull();
    }

    [Fact]
    public async Task ReadAsync_FrameFollowedByData_LeavesTheDataInThePipe()
    {
        var pipe = new Pipe();
        await pipe.Writer.WriteAsync(new byte[] { 0x03, (byte)'n', (byte)'a', (byte)'\n', 0xAA, 0xBB });
        pipe.Writer.Complete();

        string message = await MultistreamMessage.ReadAsync(pipe.Reader).Within();
        byte[] rest = await PipeTesting.ReadToEndAsync(pipe.Reader).Within();

        message.Should().Be("na");
        rest.Should().Equal(0xAA, 0xBB);
    }

    [Fact]
    public async Task ReadAsync_FrameArrivingByteByByte_IsAssembled()
    {
        var pipe = new Pipe();
        Task<string> read = MultistreamMessage.ReadAsync(pipe.Reader).AsTask();

        byte[] frame = [0x07, .. "/noise\n"u8];
        foreach (byte b in frame)
        {
            read.IsCompleted.Should().BeFalse();
            await pipe.Writer.WriteAsync(new[] { b });
        }

        (await read.Within()).Should().Be("/noise");
    }

    [Fact]
    public async Task ReadAsync_PipeEndsMidFrame_ThrowsEndOfStream()
    {
        var pipe = new Pipe();
        await pipe.Writer.WriteAsync(new byte[] { 0x07, (byte)'/', (byte)'n' });
        pipe.Writer.Complete();

        Func<Task> read = () => MultistreamMessage.ReadAsync(pipe.Reader).AsTask();

        await read.Should().ThrowAsync<EndOfStreamException>();
    }
}
