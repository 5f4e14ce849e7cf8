using System.Buffers;
using System.IO.Pipelines;
using CircuitRelay.ReferenceHost.Noise;

namespace CircuitRelay.ReferenceHost.Tests.Noise;

public sealed class NoiseFramingTests
{
    [Fact]
    public async Task ReadFrameAsync_FrameFollowedByData_LeavesTheDataInThePipe()
    {
        var pipe = new Pipe();
        await pipe.Writer.WriteAsync(new byte[] { 0x00, 0x03, 1, 2, 3, 0xaa, 0xbb });

        byte[] frame = await NoiseFraming.ReadFrameAsync(pipe.Reader, "a frame").Within();
        byte[] rest = await pipe.Reader.ReadExactlyAsync(2).Within();

        frame.Should().Equal(1, 2, 3);
        rest.Should().Equal(0xaa, 0xbb);
    }

    [Fact]
    public async Task ReadFrameAsync_FrameArrivingBytewise_IsAssembled()
    {
        var pipe = new Pipe();
        Task<byte[]> read = NoiseFraming.ReadFrameAsync(pipe.Reader, "a frame").AsTask();

        foreach (byte b in new byte[] { 0x01, 0x00 }.Concat(Enumerable.Repeat((byte)7, 256)))
        {
            await pipe.Writer.WriteAsync(new[] { b });
        }

        (await read.Within()).Should().HaveCount(256).And.OnlyContain(b => b == 7);
    }

    [Fact]
    public async Task ReadFrameAsync_ConnectionClosesMidFrame_ThrowsEndOfStream()
    {
        var pipe = new Pipe();
        await pipe.Writer.WriteAsync(new byte[] { 0x00, 0x10, 1, 2 });
        await pipe.Writer.CompleteAsync();

        Func<Task> read = () => NoiseFraming.ReadFrameAsync(pipe.Reader, "message 2").Within();

        await read.Should().ThrowAsync<EndOfStreamException>().WithMessage("*message 2*4 bytes*");
    }

    [Fact]
    public async Task ReadFrameAsync_ConnectionClosedBeforeAnyByte_ThrowsEndOfStream()
    {
        var pipe = new Pipe();
        await pipe.Writer.CompleteAsync();

        Func<Task> read = () => NoiseFraming.ReadFrameAsync(pipe.Reader, "message 3").Within();

        await read.Should().ThrowAsync<EndOfStreamException>().WithMessage("*closed while waiting for message 3*");
    }

    [Fact]
    public async Task WriteFrameAsync_Body_IsPrefixedWithBigEndianLength()
    {
        var pipe = new Pipe();
        byte[] body = new byte[0x0102];

        await NoiseFraming.WriteFrameAsync(pipe.Writer, body).Within();
        byte[] written = await pipe.Reader.ReadExactlyAsync(2 + body.Length).Within();

        written[..2].Should().Equal(0x01, 0x02);
    }

    [Fact]
    public void WriteFrame_BodyOverMaximum_ThrowsArgumentException()
    {
        var pipe = new Pipe();

        Action write = () => NoiseFraming.WriteFrame(pipe.Writer, new byte[65536]);

        write.Should().Throw<ArgumentException>();
    }

    [Fact]
    public void TryReadFrame_OnlyTheLengthPrefix_ReturnsFalseAndKeepsBuffer()
    {
        var buffer = new ReadOnlySequence<byte>(new byte[] { 0x00, 0x05 });

        bool found = NoiseFraming.TryReadFrame(ref buffer, out _);

        found.Should().BeFalse();
        buffer.Length.Should().Be(2);
    }

    [Fact]
    public void TryReadFrame_EmptyFrame_IsAFrame()
    {
        var buffer = new ReadOnlySequence<byte>(new byte[] { 0x00, 0x00, 0x09 });

        bool found = NoiseFraming.TryReadFrame(ref buffer, out ReadOnlySequence<byte> frame);

        found.Should().BeTrue();
        frame.Length.Should().Be(0);
        buffer.ToArray().Should().Equal(0x09);
    }
}
