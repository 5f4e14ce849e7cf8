using System.Buffers;
using System.IO.Pipelines;
using CircuitRelay.Multiformats;

namespace CircuitRelay.Tests.Primitives;

public sealed class LengthPrefixedTests
{
    private const int MaxLength = 4096;

    [Fact]
    public async Task ReadAsyncPipe_AfterWriteAsync_RoundTrips()
    {
        var pipe = new Pipe();
        byte[] body = RandomBytes(300, 1);

        await LengthPrefixed.WriteAsync(pipe.Writer, body).Within();
        byte[]? read = await LengthPrefixed.ReadAsync(pipe.Reader, MaxLength).Within();

        read.Should().Equal(body);
    }

    [Fact]
    public async Task WriteAsyncPipe_Body_WritesVarintPrefixThenBody()
    {
        var pipe = new Pipe();

        await LengthPrefixed.WriteAsync(pipe.Writer, new byte[] { 1, 2, 3 }).Within();
        await pipe.Writer.CompleteAsync();

        (await pipe.Reader.ReadToEndAsync().Within()).Should().Equal(3, 1, 2, 3);
    }

    [Fact]
    public void WriteBufferWriter_Body_WritesVarintPrefixThenBody()
    {
        var writer = new System.Buffers.ArrayBufferWriter<byte>();
        byte[] body = RandomBytes(200, 2);

        LengthPrefixed.Write(writer, body);

        writer.WrittenSpan.ToArray().Should().Equal([0xc8, 0x01, .. body]);
    }

    [Fact]
    public async Task ReadAsyncPipe_FrameFollowedByOtherBytes_LeavesThemInThePipe()
    {
        var pipe = new Pipe();
        await LengthPrefixed.WriteAsync(pipe.Writer, new byte[] { 9, 8, 7 }).Within();
        await pipe.Writer.WriteAsync(new byte[] { 0xAA, 0xBB, 0xCC }).Within();

        byte[]? frame = await LengthPrefixed.ReadAsync(pipe.Reader, MaxLength).Within();
        ReadResult rest = await pipe.Reader.ReadAsync().Within();

        frame.Should().Equal(9, 8, 7);
        rest.Buffer.ToArray().Should().Equal(0xAA, 0xBB, 0xCC);
    }

    [Fact]
    public async Task ReadAsyncPipe_TwoFramesBackToBack_ReadsBothInOrder()
    {
        var pipe = new Pipe();
        LengthPrefixed.Write(pipe.Writer, new byte[] { 1 });
        LengthPrefixed.Write(pipe.Writer, new byte[] { 2, 2 });
        await pipe.Writer.FlushAsync().Within();

        byte[]? first = await LengthPrefixed.ReadAsync(pipe.Reader, MaxLength).Within();
        byte[]? second = await LengthPrefixed.ReadAsync(pipe.Reader, MaxLength).Within();

        first.Should().Equal(1);
        second.Should().Equal(2, 2);
    }

    [Fact]
    public async Task ReadAsyncPipe_LengthAboveMaximum_FailsBeforeBodyArrives()
    {
        var pipe = new Pipe();
        await pipe.Writer.WriteAsync(Varint.Encode(MaxLength + 1)).Within();

        // The writer is left open and no body is written: the read must fail on the prefix alone.
        Func<Task> act = () => LengthPrefixed.ReadAsync(pipe.Reader, MaxLength).Within();

        (await act.Should().ThrowAsync<InvalidDataException>())
            .WithMessage("*message of 4097 bytes exceeds the maximum of 4096*");
    }

    [Fact]
    public async Task ReadAsyncPipe_LengthEqualToMaximum_Accepted()
    {
        var pipe = new Pipe();
        byte[] body = RandomBytes(MaxLength, 3);
        await LengthPrefixed.WriteAsync(pipe.Writer, body).Within();

        byte[]? read = await LengthPrefixed.ReadAsync(pipe.Reader, MaxLength).Within();

        read.Should().Equal(body);
    }

    [Fact]
    public async Task ReadAsyncPipe_TruncatedBody_ThrowsEndOfStream()
    {
        var pipe = new Pipe();
        await pipe.Writer.WriteAsync(new byte[] { 5, 1, 2 }).Within();
        await pipe.Writer.CompleteAsync();

        Func<Task> act = () => LengthPrefixed.ReadAsync(pipe.Reader, MaxLength).Within();

        await act.Should().ThrowAsync<EndOfStreamException>();
    }

    [Fact]
    public async Task ReadAsyncPipe_TruncatedPrefix_ThrowsEndOfStream()
    {
        var pipe = new Pipe();
        await pipe.Writer.WriteAsync(new byte[] { 0x80 }).Within();
        await pipe.Writer.CompleteAsync();

        Func<Task> act = () => LengthPrefixed.ReadAsync(pipe.Reader, MaxLength).Within();

        await act.Should().ThrowAsync<EndOfStreamException>();
    }

    [Fact]
    public async Task ReadAsyncPipe_CleanEndOfStream_ReturnsNull()
    {
        var pipe = new Pipe();
        await pipe.Writer.CompleteAsync();

        byte[]? read = await LengthPrefixed.ReadAsync(pipe.Reader, MaxLength).Within();

        read.Should().BeNull();
    }

    [Fact]
    public async Task ReadAsyncPipe_EmptyFrame_ReturnsEmptyArray()
    {
        var pipe = new Pipe();
        await LengthPrefixed.WriteAsync(pipe.Writer, ReadOnlyMemory<byte>.Empty).Within();
        await pipe.Writer.CompleteAsync();

        byte[]? read = await LengthPrefixed.ReadAsync(pipe.Reader, MaxLength).Within();

        read.Should().NotBeNull().And.BeEmpty();
    }

    [Theory]
    [InlineData("8100")]
    [InlineData("ffffffffffffffffff01")]
    public async Task ReadAsyncPipe_InvalidVarint_ThrowsInvalidDataWithFormatInner(string hex)
    {
        var pipe = new Pipe();
        await pipe.Writer.WriteAsync(Convert.FromHexString(hex)).Within();

        Func<Task> act = () => LengthPrefixed.ReadAsync(pipe.Reader, MaxLength).Within();

        (await act.Should().ThrowAsync<InvalidDataException>()).WithInnerException<FormatException>();
    }

    [Fact]
    public async Task ReadAsyncPipe_FrameWrittenOneByteAtATime_Parses()
    {
        var pipe = new Pipe();
        byte[] body = RandomBytes(200, 4);
        byte[] frame = [.. Varint.Encode((ulong)body.Length), .. body, 0x55];
        Task<byte[]?> read = LengthPrefixed.ReadAsync(pipe.Reader, MaxLength).AsTask();

        foreach (byte b in frame)
        {
            await pipe.Writer.WriteAsync(new[] { b }).Within();
        }

        (await read.Within()).Should().Equal(body);
        ReadResult rest = await pipe.Reader.ReadAsync().Within();
        rest.Buffer.ToArray().Should().Equal(0x55);
    }

    [Fact]
    public async Task ReadAsyncPipe_FrameLargerThanPauseThreshold_DoesNotDeadlock()
    {
        var pipe = new Pipe(new PipeOptions(pauseWriterThreshold: 64, resumeWriterThreshold: 32, minimumSegmentSize: 16));
        byte[] body = RandomBytes(3000, 7);
        byte[] frame = [.. Varint.Encode((ulong)body.Length), .. body, 0x77];
        Task writer = Task.Run(async () =>
        {
            for (int offset = 0; offset < frame.Length; offset += 50)
            {
                await pipe.Writer.WriteAsync(frame.AsMemory(offset, Math.Min(50, frame.Length - offset)));
            }
        });

        byte[]? read = await LengthPrefixed.ReadAsync(pipe.Reader, MaxLength).Within();
        await writer.Within();
        ReadResult rest = await pipe.Reader.ReadAsync().Within();

        read.Should().Equal(body);
        rest.Buffer.ToArray().Should().Equal(0x77);
    }

    [Fact]
    public async Task ReadAsyncPipe_BodyTruncatedAfterPartialArrival_ThrowsEndOfStream()
    {
        var pipe = new Pipe();
        Task<byte[]?> read = LengthPrefixed.ReadAsync(pipe.Reader, MaxLength).AsTask();
        await pipe.Writer.WriteAsync(new byte[] { 10, 1, 2, 3 }).Within();
        await pipe.Writer.WriteAsync(new byte[] { 4, 5 }).Within();
        await pipe.Writer.CompleteAsync();

        Func<Task> act = () => read.Within();

        await act.Should().ThrowAsync<EndOfStreamException>();
    }

    [Fact]
    public async Task ReadAsyncPipe_CancelledWhileWaiting_ThrowsOperationCanceled()
    {
        var pipe = new Pipe();
        using var cts = new CancellationTokenSource();
        Task<byte[]?> read = LengthPrefixed.ReadAsync(pipe.Reader, MaxLength, cts.Token).AsTask();

        await cts.CancelAsync();
        Func<Task> act = () => read.Within();

        await act.Should().ThrowAsync<OperationCanceledException>();
    }

    [Fact]
    public async Task ReadAsyncPipe_ErrorThrown_LeavesReaderUsable()
    {
        var pipe = new Pipe();
        await pipe.Writer.WriteAsync(Varint.Encode(MaxLength + 1)).Within();
        Func<Task> act = () => LengthPrefixed.ReadAsync(pipe.Reader, MaxLength).Within();
        await act.Should().ThrowAsync<InvalidDataException>();

        ReadResult result = await pipe.Reader.ReadAsync().Within();

        result.Buffer.ToArray().Should().Equal(Varint.Encode(MaxLength + 1));
    }

    [Fact]
    public async Task ReadAsyncStream_AfterWriteAsync_RoundTrips()
    {
        using var stream = new MemoryStream();
        byte[] body = RandomBytes(1000, 5);

        await LengthPrefixed.WriteAsync(stream, body).Within();
        stream.Position = 0;
        byte[]? read = await LengthPrefixed.ReadAsync(stream, MaxLength).Within();

        read.Should().Equal(body);
    }

    [Fact]
    public async Task WriteAsyncStream_Body_IssuesOneWriteThenFlush()
    {
        var stream = new RecordingStream();

        await LengthPrefixed.WriteAsync(stream, new byte[] { 1, 2, 3 }).Within();

        stream.Calls.Should().Equal("write:04", "flush");
        stream.Written.ToArray().Should().Equal(3, 1, 2, 3);
    }

    [Fact]
    public async Task ReadAsyncStream_FrameFollowedByOtherBytes_LeavesThemUnread()
    {
        byte[] frame = [3, 9, 8, 7];
        using var stream = new MemoryStream([.. frame, 0xAA, 0xBB]);

        byte[]? read = await LengthPrefixed.ReadAsync(stream, MaxLength).Within();

        read.Should().Equal(9, 8, 7);
        stream.Position.Should().Be(frame.Length);
        stream.ReadByte().Should().Be(0xAA);
    }

    [Fact]
    public async Task ReadAsyncStream_OverPipeWithExtraBytes_LeavesThemInThePipe()
    {
        var pipe = new Pipe();
        await pipe.Writer.WriteAsync(new byte[] { 2, 1, 1, 0xEE, 0xFF }).Within();
        Stream stream = pipe.Reader.AsStream(leaveOpen: true);

        byte[]? read = await LengthPrefixed.ReadAsync(stream, MaxLength).Within();
        ReadResult rest = await pipe.Reader.ReadAsync().Within();

        read.Should().Equal(1, 1);
        rest.Buffer.ToArray().Should().Equal(0xEE, 0xFF);
    }

    [Fact]
    public async Task ReadAsyncStream_LengthAboveMaximum_FailsBeforeBodyArrives()
    {
        var pipe = new Pipe();
        await pipe.Writer.WriteAsync(Varint.Encode(MaxLength + 1)).Within();
        Stream stream = pipe.Reader.AsStream();

        Func<Task> act = () => LengthPrefixed.ReadAsync(stream, MaxLength).Within();

        (await act.Should().ThrowAsync<InvalidDataException>())
            .WithMessage("*message of 4097 bytes exceeds the maximum of 4096*");
    }

    [Fact]
    public async Task ReadAsyncStream_TruncatedBody_ThrowsEndOfStream()
    {
        using var stream = new MemoryStream([5, 1, 2]);

        Func<Task> act = () => LengthPrefixed.ReadAsync(stream, MaxLength).Within();

        await act.Should().ThrowAsync<EndOfStreamException>();
    }

    [Fact]
    public async Task ReadAsyncStream_TruncatedPrefix_ThrowsEndOfStream()
    {
        using var stream = new MemoryStream([0x80, 0x80]);

        Func<Task> act = () => LengthPrefixed.ReadAsync(stream, MaxLength).Within();

        await act.Should().ThrowAsync<EndOfStreamException>();
    }

    [Fact]
    public async Task ReadAsyncStream_CleanEndOfStream_ReturnsNull()
    {
        using var stream = new MemoryStream();

        byte[]? read = await LengthPrefixed.ReadAsync(stream, MaxLength).Within();

        read.Should().BeNull();
    }

    [Theory]
    [InlineData("8100")]
    [InlineData("ffffffffffffffffff01")]
    public async Task ReadAsyncStream_InvalidVarint_ThrowsInvalidDataWithFormatInner(string hex)
    {
        using var stream = new MemoryStream(Convert.FromHexString(hex));

        Func<Task> act = () => LengthPrefixed.ReadAsync(stream, MaxLength).Within();

        (await act.Should().ThrowAsync<InvalidDataException>()).WithInnerException<FormatException>();
    }

    [Fact]
    public async Task ReadAsyncStream_FrameThenMoreBytes_NeverRequestsPastTheFrame()
    {
        var stream = new RecordingStream([0x82, 0x01, .. RandomBytes(130, 6), 0x11, 0x22]);

        byte[]? read = await LengthPrefixed.ReadAsync(stream, MaxLength).Within();

        read.Should().HaveCount(130);
        stream.MaxBytesConsumed.Should().Be(132);
    }

    /// <summary>A stream that records its calls and never hands out more bytes than it was asked for.</summary>
    private sealed class RecordingStream : Stream
    {
        private readonly byte[] _source;
        private int _position;

        public RecordingStream(byte[]? source = null) => _source = source ?? [];

        public List<string> Calls { get; } = [];

        public MemoryStream Written { get; } = new();

        public int MaxBytesConsumed => _position;

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => true;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override void Flush() => Calls.Add("flush");

        public override Task FlushAsync(CancellationToken cancellationToken)
        {
            Calls.Add("flush");
            return Task.CompletedTask;
        }

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            int n = Math.Min(buffer.Length, _source.Length - _position);
            _source.AsSpan(_position, n).CopyTo(buffer);
            _position += n;
            return n;
        }

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            ValueTask.FromResult(Read(buffer.Span));

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            Task.FromResult(Read(buffer.AsSpan(offset, count)));

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

        public override void Write(ReadOnlySpan<byte> buffer)
        {
            Calls.Add($"write:{buffer.Length:x2}");
            Written.Write(buffer);
        }

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            Write(buffer.Span);
            return ValueTask.CompletedTask;
        }

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
        {
            Write(buffer.AsSpan(offset, count));
            return Task.CompletedTask;
        }
    }
}
