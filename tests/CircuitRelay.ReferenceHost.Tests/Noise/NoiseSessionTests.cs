using System.IO.Pipelines;
using System.Security.Cryptography;
using CircuitRelay.Crypto;
using CircuitRelay.ReferenceHost.Noise;

namespace CircuitRelay.ReferenceHost.Tests.Noise;

public sealed class NoiseSessionTests : IDisposable
{
    private readonly TestIdentities _identities = new();

    public void Dispose() => _identities.Dispose();

    [Fact]
    public async Task Session_EightMiBBothWaysAtOnce_ArrivesByteExact()
    {
        const int size = 8 * 1024 * 1024;
        byte[] toResponder = PipeTesting.RandomBytes(size, seed: 30);
        byte[] toInitiator = PipeTesting.RandomBytes(size, seed: 31);
        (IDuplexPipe i, IDuplexPipe r) = NoiseTestSupport.CreateRawPair();
        (NoiseSession a, NoiseSession b) = await NoiseTestSupport.HandshakeAsync(i, r, _identities.Ed25519(), _identities.Ed25519());
        await using (a)
        await using (b)
        {
            Task writeA = a.Output.WriteAllAsync(toResponder, chunk: 100_000);
            Task writeB = b.Output.WriteAllAsync(toInitiator, chunk: 33_333);
            Task<(byte[] Hash, long Length)> readA = a.Input.HashToEndAsync();
            Task<(byte[] Hash, long Length)> readB = b.Input.HashToEndAsync();

            await Task.WhenAll(writeA, writeB, readA, readB).Within();

            (await readB).Length.Should().Be(size);
            (await readB).Hash.Should().Equal(SHA256.HashData(toResponder));
            (await readA).Length.Should().Be(size);
            (await readA).Hash.Should().Equal(SHA256.HashData(toInitiator));
        }
    }

    [Fact]
    public async Task Session_InitiatorCompletesOutput_ResponderSeesEndAndCanStillReply()
    {
        (IDuplexPipe i, IDuplexPipe r) = NoiseTestSupport.CreateRawPair();
        (NoiseSession a, NoiseSession b) = await NoiseTestSupport.HandshakeAsync(i, r, _identities.Ed25519(), _identities.Ed25519());
        await using (a)
        await using (b)
        {
            await a.Output.WriteAsync(System.Text.Encoding.ASCII.GetBytes("question"));
            await a.Output.CompleteAsync();

            byte[] question = await b.Input.ReadToEndAsync().Within();
            await b.Output.WriteAsync(System.Text.Encoding.ASCII.GetBytes("answer"));
            await b.Output.CompleteAsync();
            byte[] answer = await a.Input.ReadToEndAsync().Within();

            System.Text.Encoding.ASCII.GetString(question).Should().Be("question");
            System.Text.Encoding.ASCII.GetString(answer).Should().Be("answer");
        }
    }

    [Fact]
    public async Task Session_OutputCompleted_RawOutputIsCompletedAfterTheData()
    {
        await using var wire = new WireTap();
        (NoiseSession a, NoiseSession b) = await NoiseTestSupport.HandshakeAsync(wire.Initiator, wire.Responder, _identities.Ed25519(), _identities.Ed25519());
        await using (a)
        await using (b)
        {
            long handshake = wire.ToResponder.Forwarded;

            await a.Output.WriteAsync(new byte[1000]);
            await a.Output.CompleteAsync();
            await a.OutputClosed.Within();
            await wire.ToResponder.Pump.Within();

            // The forwarder only ends when the initiator's raw output completes.
            wire.ToResponder.Forwarded.Should().Be(handshake + 2 + 1000 + 16);
        }
    }

    [Fact]
    public async Task OutputClosed_AwaitedBeforeDispose_PeerReceivesEverythingAndAGracefulEnd()
    {
        byte[] data = PipeTesting.RandomBytes(1024 * 1024, seed: 34);
        (IDuplexPipe i, IDuplexPipe r) = NoiseTestSupport.CreateRawPair();
        (NoiseSession a, NoiseSession b) = await NoiseTestSupport.HandshakeAsync(i, r, _identities.Ed25519(), _identities.Ed25519());
        await using (b)
        {
            Task<byte[]> read = b.Input.ReadToEndAsync();

            await a.Output.WriteAsync(data);
            await a.Output.CompleteAsync();
            await a.OutputClosed.Within();
            await a.DisposeAsync();

            (await read.Within()).Should().Equal(data);
        }
    }

    [Fact]
    public async Task Session_LargeWrite_IsSplitIntoMaximalFrames()
    {
        const int size = 200_000;
        await using var wire = new WireTap();
        (NoiseSession a, NoiseSession b) = await NoiseTestSupport.HandshakeAsync(wire.Initiator, wire.Responder, _identities.Ed25519(), _identities.Ed25519());
        await using (a)
        await using (b)
        {
            int handshake = (int)wire.ToResponder.Forwarded;

            await a.Output.WriteAsync(PipeTesting.RandomBytes(size, seed: 32));
            await a.Output.CompleteAsync();
            (await b.Input.ReadToEndAsync().Within()).Should().HaveCount(size);
            await wire.ToResponder.Pump.Within();

            List<byte[]> frames = NoiseTestSupport.ParseFrames(wire.ToResponder.Recorded().AsSpan(handshake));
            frames.Select(f => f.Length).Should().Equal(65535, 65535, 65535, size - (3 * 65519) + 16);
        }
    }

    [Theory]
    [InlineData(60_000, 65_536, new[] { 60_000, 65_519, 17 })] // a long segment tail is a frame of its own, not copied
    [InlineData(66_000, 65_536, new[] { 65_519, 65_519, 498 })] // a short tail (481 bytes) is gathered into a full frame
    public async Task Session_WriteSpanningTwoBufferSegments_FramesFollowTheSegments(int first, int second, int[] expectedPlaintexts)
    {
        await using var wire = new WireTap();
        (NoiseSession a, NoiseSession b) = await NoiseTestSupport.HandshakeAsync(wire.Initiator, wire.Responder, _identities.Ed25519(), _identities.Ed25519());
        await using (a)
        await using (b)
        {
            int handshake = (int)wire.ToResponder.Forwarded;
            byte[] data = PipeTesting.RandomBytes(first + second, seed: 33);

            // Two GetSpan calls whose second does not fit the first segment's free space: one flush, two segments.
            data.AsSpan(0, first).CopyTo(a.Output.GetSpan(first));
            a.Output.Advance(first);
            data.AsSpan(first).CopyTo(a.Output.GetSpan(second));
            a.Output.Advance(second);
            await a.Output.FlushAsync();
            await a.Output.CompleteAsync();

            (await b.Input.ReadToEndAsync().Within()).Should().Equal(data);
            await wire.ToResponder.Pump.Within();
            List<byte[]> frames = NoiseTestSupport.ParseFrames(wire.ToResponder.Recorded().AsSpan(handshake));
            frames.Select(f => f.Length - 16).Should().Equal(expectedPlaintexts);
        }
    }

    [Fact]
    public async Task Session_TamperedCiphertext_ReaderGetsInvalidData()
    {
        await using var wire = new WireTap();
        (NoiseSession a, NoiseSession b) = await NoiseTestSupport.HandshakeAsync(wire.Initiator, wire.Responder, _identities.Ed25519(), _identities.Ed25519());
        await using (a)
        await using (b)
        {
            // Flip a bit inside the first transport frame's ciphertext (past its 2-byte length).
            wire.ToResponder.CorruptOffset = wire.ToResponder.Forwarded + 5;

            await a.Output.WriteAsync(System.Text.Encoding.ASCII.GetBytes("attack at dawn"));

            Func<Task> read = async () => await b.Input.ReadAsync().Within();
            await read.Should().ThrowAsync<InvalidDataException>().WithMessage("*authentication*");
        }
    }

    [Fact]
    public async Task Session_TamperedCiphertext_RawConnectionIsAborted()
    {
        await using var wire = new WireTap();
        (NoiseSession a, NoiseSession b) = await NoiseTestSupport.HandshakeAsync(wire.Initiator, wire.Responder, _identities.Ed25519(), _identities.Ed25519());
        await using (a)
        await using (b)
        {
            wire.ToResponder.CorruptOffset = wire.ToResponder.Forwarded + 5;

            await a.Output.WriteAsync(System.Text.Encoding.ASCII.GetBytes("attack at dawn"));

            // The responder completes its raw output with the error: the forwarder toward the initiator
            // ends and the initiator's session fails too.
            Func<Task> peerRead = async () => await a.Input.ReadAsync().Within();
            await peerRead.Should().ThrowAsync<Exception>();
            await wire.ToInitiator.Pump.Within();
        }
    }

    [Fact]
    public async Task Session_RawInputEnds_InputCompletesAfterTheData()
    {
        (IDuplexPipe i, IDuplexPipe r) = NoiseTestSupport.CreateRawPair();
        (NoiseSession a, NoiseSession b) = await NoiseTestSupport.HandshakeAsync(i, r, _identities.Ed25519(), _identities.Ed25519());
        await using (a)
        await using (b)
        {
            await a.Output.WriteAsync(new byte[] { 1, 2, 3 });
            await a.Output.CompleteAsync();

            byte[] all = await b.Input.ReadToEndAsync().Within();

            all.Should().Equal(1, 2, 3);
        }
    }

    [Fact]
    public async Task Session_PeerClosesMidFrame_ReaderGetsEndOfStream()
    {
        KeyIdentity responder = _identities.Ed25519();
        (IDuplexPipe i, IDuplexPipe r) = NoiseTestSupport.CreateRawPair();
        Task<NoiseSession> initiate = NoiseTestSupport.InitiateAsync(i, _identities.Ed25519(), responder.PeerId);
        await using NoiseSession b = await NoiseTestSupport.RespondAsync(r, responder).Within();
        await using NoiseSession a = await initiate.Within();

        // Raw bytes behind the initiator session's back: half a frame, then the end.
        await i.Output.WriteAsync(new byte[] { 0x00, 0x40, 1, 2, 3 });
        await i.Output.CompleteAsync();

        Func<Task> read = async () => await b.Input.ReadAsync().Within();
        await read.Should().ThrowAsync<EndOfStreamException>().WithMessage("*middle of a Noise frame*");
    }

    [Fact]
    public async Task Session_TruncatedFrameAfterValidOnes_DeliversTheDecryptedDataThenTheError()
    {
        KeyIdentity responder = _identities.Ed25519();
        (IDuplexPipe i, IDuplexPipe r) = NoiseTestSupport.CreateRawPair();
        Task<NoiseSession> initiate = NoiseTestSupport.InitiateAsync(i, _identities.Ed25519(), responder.PeerId);
        await using NoiseSession b = await NoiseTestSupport.RespondAsync(r, responder).Within();
        await using NoiseSession a = await initiate.Within();
        byte[] data = PipeTesting.RandomBytes(200_000, seed: 7);
        await a.Output.WriteAsync(data).AsTask().Within();
        await WaitUntilBufferedAsync(b.Input, data.Length);

        // Then a frame cut short and the end of the connection, behind the initiator session's back; the application
        // reads only once the session has seen it all.
        await i.Output.WriteAsync(new byte[] { 0x00, 0x40, 1, 2, 3 });
        await i.Output.CompleteAsync();
        await b.InputEnded.Within();

        (byte[] received, Exception? failure, bool sawCleanEnd) = await b.Input.ReadUntilFailureAsync();

        sawCleanEnd.Should().BeFalse("the connection failed: it must not look like a clean end");
        failure.Should().BeOfType<EndOfStreamException>().Which.Message.Should().Contain("middle of a Noise frame");
        received.Should().Equal(data, "every byte decrypted before the truncated frame is delivered, in order");
    }

    /// <summary>Waits until <paramref name="count"/> bytes are buffered in <paramref name="input"/>, consuming none of them.</summary>
    private static async Task WaitUntilBufferedAsync(PipeReader input, long count)
    {
        while (true)
        {
            ReadResult result = await input.ReadAsync().Within();
            long buffered = result.Buffer.Length;
            input.AdvanceTo(result.Buffer.Start, result.Buffer.End);
            if (buffered >= count)
            {
                return;
            }
        }
    }

    [Fact]
    public async Task Session_ApplicationDoesNotRead_WriterStallsWithBoundedBuffering()
    {
        const int size = 8 * 1024 * 1024;
        byte[] data = PipeTesting.RandomBytes(size, seed: 33);
        await using var wire = new WireTap(record: false);
        (NoiseSession a, NoiseSession b) = await NoiseTestSupport.HandshakeAsync(wire.Initiator, wire.Responder, _identities.Ed25519(), _identities.Ed25519());
        await using (a)
        await using (b)
        {
            var accepted = new StrongBox<long>();
            Task write = a.Output.WriteAllAsync(data, chunk: 16 * 1024, accepted: accepted);
            await wire.ToResponder.WhenForwardedAsync(NoiseSession.PauseThreshold).Within();

            // Absence check, not synchronisation: with nobody reading, the writer must stay blocked.
            Func<Task> stillBlocked = () => write.WaitAsync(TimeSpan.FromSeconds(1));
            await stillBlocked.Should().ThrowAsync<TimeoutException>();
            wire.ToResponder.Forwarded.Should().BeLessThan(1024 * 1024);
            Interlocked.Read(ref accepted.Value).Should().BeLessThan(2 * 1024 * 1024);

            (byte[] Hash, long Length) received = await b.Input.HashToEndAsync().Within();
            await write.Within();
            received.Length.Should().Be(size);
            received.Hash.Should().Equal(SHA256.HashData(data));
        }
    }

    [Fact]
    public async Task Abort_PendingRead_FailsWithIOException()
    {
        (IDuplexPipe i, IDuplexPipe r) = NoiseTestSupport.CreateRawPair();
        (NoiseSession a, NoiseSession b) = await NoiseTestSupport.HandshakeAsync(i, r, _identities.Ed25519(), _identities.Ed25519());
        await using (a)
        await using (b)
        {
            ValueTask<ReadResult> pending = b.Input.ReadAsync();

            b.Abort();

            Func<Task> read = async () => await pending.Within();
            await read.Should().ThrowAsync<IOException>().WithMessage("*aborted*");
        }
    }

    [Fact]
    public async Task Abort_Session_PeerSeesTheConnectionFail()
    {
        (IDuplexPipe i, IDuplexPipe r) = NoiseTestSupport.CreateRawPair();
        (NoiseSession a, NoiseSession b) = await NoiseTestSupport.HandshakeAsync(i, r, _identities.Ed25519(), _identities.Ed25519());
        await using (a)
        await using (b)
        {
            b.Abort();

            Func<Task> read = async () => await a.Input.ReadAsync().Within();
            await read.Should().ThrowAsync<IOException>();
        }
    }

    [Fact]
    public async Task DisposeAsync_Twice_CompletesAndStopsBothPumps()
    {
        (IDuplexPipe i, IDuplexPipe r) = NoiseTestSupport.CreateRawPair();
        (NoiseSession a, NoiseSession b) = await NoiseTestSupport.HandshakeAsync(i, r, _identities.Ed25519(), _identities.Ed25519());

        await a.DisposeAsync().Within();
        await a.DisposeAsync().Within();
        a.Abort();
        a.Abort();

        a.PumpsCompleted.IsCompleted.Should().BeTrue();
        Func<Task> write = async () => await a.Output.WriteAsync(new byte[1]).Within();
        await write.Should().ThrowAsync<IOException>();
        await b.DisposeAsync().Within();
        b.PumpsCompleted.IsCompleted.Should().BeTrue();
    }

    [Fact]
    public async Task Session_ApplicationCompletesInput_StopsReadingTheConnection()
    {
        await using var wire = new WireTap();
        (NoiseSession a, NoiseSession b) = await NoiseTestSupport.HandshakeAsync(wire.Initiator, wire.Responder, _identities.Ed25519(), _identities.Ed25519());
        await using (a)
        await using (b)
        {
            await b.Input.CompleteAsync();

            // The responder's session completes its raw reader; the forwarder's next flush sees that and
            // closes the initiator's raw output, and the initiator's writes end up refused.
            await KeepWritingUntilRefusedAsync(a.Output).Within();
            await wire.ToResponder.Pump.Within();
        }
    }

    private static async Task KeepWritingUntilRefusedAsync(PipeWriter writer)
    {
        while (!(await writer.WriteAsync(new byte[10])).IsCompleted)
        {
        }
    }
}
