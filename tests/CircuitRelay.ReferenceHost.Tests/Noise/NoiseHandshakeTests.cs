using System.IO.Pipelines;
using CircuitRelay.Crypto;
using CircuitRelay.Abstractions;
using CircuitRelay.ReferenceHost.Noise;

namespace CircuitRelay.ReferenceHost.Tests.Noise;

public sealed class NoiseHandshakeTests : IDisposable
{
    private readonly TestIdentities _identities = new();

    public void Dispose() => _identities.Dispose();

    [Fact]
    public async Task Handshake_Ed25519Identities_EachSideLearnsTheOtherPeerId()
    {
        KeyIdentity initiator = _identities.Ed25519();
        KeyIdentity responder = _identities.Ed25519();
        (IDuplexPipe i, IDuplexPipe r) = NoiseTestSupport.CreateRawPair();

        (NoiseSession a, NoiseSession b) = await NoiseTestSupport.HandshakeAsync(i, r, initiator, responder);
        await using (a)
        await using (b)
        {
            a.RemotePeer.Should().Be(responder.PeerId);
            a.RemotePublicKey.Should().Be(responder.PublicKey);
            a.IsInitiator.Should().BeTrue();
            b.RemotePeer.Should().Be(initiator.PeerId);
            b.RemotePublicKey.Should().Be(initiator.PublicKey);
            b.IsInitiator.Should().BeFalse();
        }
    }

    [Fact]
    public async Task Handshake_Secp256k1Initiator_ResponderLearnsItsPeerId()
    {
        KeyIdentity initiator = _identities.Secp256k1();
        KeyIdentity responder = _identities.Ed25519();
        (IDuplexPipe i, IDuplexPipe r) = NoiseTestSupport.CreateRawPair();

        (NoiseSession a, NoiseSession b) = await NoiseTestSupport.HandshakeAsync(i, r, initiator, responder);
        await using (a)
        await using (b)
        {
            b.RemotePeer.Should().Be(initiator.PeerId);
            b.RemotePublicKey.Type.Should().Be(KeyType.Secp256k1);
            a.RemotePeer.Should().Be(responder.PeerId);
        }
    }

    [Fact]
    public async Task Handshake_EcdsaResponder_InitiatorLearnsItsPeerId()
    {
        KeyIdentity initiator = _identities.Ed25519();
        KeyIdentity responder = _identities.EcdsaP256();
        (IDuplexPipe i, IDuplexPipe r) = NoiseTestSupport.CreateRawPair();

        (NoiseSession a, NoiseSession b) = await NoiseTestSupport.HandshakeAsync(i, r, initiator, responder);
        await using (a)
        await using (b)
        {
            a.RemotePeer.Should().Be(responder.PeerId);
            a.RemotePublicKey.Type.Should().Be(KeyType.Ecdsa);
            b.RemotePeer.Should().Be(initiator.PeerId);
        }
    }

    [Fact]
    public async Task Handshake_MuxerLists_AreExchangedInOrder()
    {
        (IDuplexPipe i, IDuplexPipe r) = NoiseTestSupport.CreateRawPair();

        (NoiseSession a, NoiseSession b) = await NoiseTestSupport.HandshakeAsync(
            i, r, _identities.Ed25519(), _identities.Ed25519(), initiatorMuxers: ["/yamux/1.0.0", "/mplex/6.7.0"], responderMuxers: ["/mplex/6.7.0"]);
        await using (a)
        await using (b)
        {
            a.RemoteMuxers.Should().Equal("/mplex/6.7.0");
            b.RemoteMuxers.Should().Equal("/yamux/1.0.0", "/mplex/6.7.0");
        }
    }

    [Fact]
    public async Task Handshake_NoMuxers_RemoteMuxersIsEmpty()
    {
        (IDuplexPipe i, IDuplexPipe r) = NoiseTestSupport.CreateRawPair();

        (NoiseSession a, NoiseSession b) = await NoiseTestSupport.HandshakeAsync(
            i, r, _identities.Ed25519(), _identities.Ed25519(), initiatorMuxers: [], responderMuxers: []);
        await using (a)
        await using (b)
        {
            a.RemoteMuxers.Should().BeEmpty();
            b.RemoteMuxers.Should().BeEmpty();
        }
    }

    [Fact]
    public async Task Handshake_Ed25519WithYamux_MessagesHaveTheDigestSizes()
    {
        KeyIdentity initiator = _identities.Ed25519();
        KeyIdentity responder = _identities.Ed25519();
        await using var wire = new WireTap();

        (NoiseSession a, NoiseSession b) = await NoiseTestSupport.HandshakeAsync(wire.Initiator, wire.Responder, initiator, responder);
        List<byte[]> sent = NoiseTestSupport.ParseFrames(wire.ToResponder.Recorded());
        List<byte[]> received = NoiseTestSupport.ParseFrames(wire.ToInitiator.Recorded());
        await a.DisposeAsync();
        await b.DisposeAsync();

        // Payload = 0a 24 <36-byte key> 12 40 <64-byte signature> 22 0e 12 0c "/yamux/1.0.0" = 120 bytes.
        int payload = NoisePayload.Encode(initiator.PublicKey.ToProtobuf(), new byte[64], NoiseTestSupport.Yamux).Length;
        payload.Should().Be(120);
        sent.Select(m => m.Length).Should().Equal(32, 48 + payload + 16);
        received.Select(m => m.Length).Should().Equal(32 + 48 + payload + 16);
    }

    [Fact]
    public async Task Handshake_Message1_IsTheBareEphemeralKeyWithPrefix()
    {
        (IDuplexPipe i, IDuplexPipe r) = NoiseTestSupport.CreateRawPair();
        using var cts = new CancellationTokenSource();
        Task<NoiseSession> initiate = NoiseTestSupport.InitiateAsync(i, _identities.Ed25519(), expected: null, cancellationToken: cts.Token);

        byte[] first = await r.Input.ReadExactlyAsync(34).Within();
        await cts.CancelAsync();

        first[..2].Should().Equal(0x00, 0x20);
        await initiate.Awaiting(t => t.Within()).Should().ThrowAsync<OperationCanceledException>();
        (await r.Input.ReadToEndAsync().Within()).Should().BeEmpty("message 1 holds the ephemeral key and nothing else");
    }

    [Fact]
    public async Task InitiateAsync_ExpectedPeerMismatch_InitiatorThrowsAndResponderSeesClose()
    {
        KeyIdentity responder = _identities.Ed25519();
        KeyIdentity someoneElse = _identities.Ed25519();
        (IDuplexPipe i, IDuplexPipe r) = NoiseTestSupport.CreateRawPair();

        Task<NoiseSession> respond = NoiseTestSupport.RespondAsync(r, responder);
        Task<NoiseSession> initiate = NoiseTestSupport.InitiateAsync(i, _identities.Ed25519(), someoneElse.PeerId);

        (await initiate.Awaiting(t => t.Within()).Should().ThrowAsync<NoisePeerMismatchException>())
            .Which.Should().Match<NoisePeerMismatchException>(e => e.Expected == someoneElse.PeerId && e.Actual == responder.PeerId);
        await respond.Awaiting(t => t.Within()).Should().ThrowAsync<EndOfStreamException>().WithMessage("*message 3*");
    }

    [Fact]
    public async Task InitiateAsync_ResponderSignsAnotherStaticKey_ThrowsInvalidData()
    {
        KeyIdentity responder = _identities.Ed25519();
        (IDuplexPipe i, IDuplexPipe r) = NoiseTestSupport.CreateRawPair();
        Task<NoiseSession> initiate = NoiseTestSupport.InitiateAsync(i, _identities.Ed25519(), responder.PeerId);

        // A responder that runs XX correctly but signs a static key other than the one it uses.
        using (var state = new NoiseHandshakeState(initiator: false, [], Curve25519.Default))
        {
            state.ReadMessage(await NoiseFraming.ReadFrameAsync(r.Input, "message 1").Within());
            byte[] otherStatic = new byte[32];
            Curve25519.Default.X25519GenerateKey(new byte[32], otherStatic);
            byte[] payload = NoisePayload.Create(responder, otherStatic, NoiseTestSupport.Yamux);
            await NoiseFraming.WriteFrameAsync(r.Output, state.WriteMessage(payload)).Within();
        }

        await initiate.Awaiting(t => t.Within()).Should().ThrowAsync<InvalidDataException>().WithMessage("*identity_sig does not verify*");
        (await r.Input.ReadToEndAsync().Within()).Should().BeEmpty("the initiator closes without sending message 3");
    }

    [Fact]
    public async Task RespondAsync_InitiatorSignsAnotherStaticKey_ThrowsInvalidData()
    {
        KeyIdentity initiator = _identities.Ed25519();
        (IDuplexPipe i, IDuplexPipe r) = NoiseTestSupport.CreateRawPair();
        Task<NoiseSession> respond = NoiseTestSupport.RespondAsync(r, _identities.Ed25519());

        using (var state = new NoiseHandshakeState(initiator: true, [], Curve25519.Default))
        {
            await NoiseFraming.WriteFrameAsync(i.Output, state.WriteMessage([])).Within();
            state.ReadMessage(await NoiseFraming.ReadFrameAsync(i.Input, "message 2").Within());
            byte[] otherStatic = new byte[32];
            Curve25519.Default.X25519GenerateKey(new byte[32], otherStatic);
            byte[] payload = NoisePayload.Create(initiator, otherStatic, NoiseTestSupport.Yamux);
            await NoiseFraming.WriteFrameAsync(i.Output, state.WriteMessage(payload)).Within();
        }

        await respond.Awaiting(t => t.Within()).Should().ThrowAsync<InvalidDataException>().WithMessage("*identity_sig does not verify*");
    }

    [Fact]
    public async Task InitiateAsync_GarbageFrameInsteadOfMessage2_FailsWithInvalidData()
    {
        (IDuplexPipe i, IDuplexPipe r) = NoiseTestSupport.CreateRawPair();
        Task<NoiseSession> initiate = NoiseTestSupport.InitiateAsync(i, _identities.Ed25519(), expected: null);

        await NoiseFraming.ReadFrameAsync(r.Input, "message 1").Within();
        await NoiseFraming.WriteFrameAsync(r.Output, PipeTesting.RandomBytes(200, seed: 20)).Within();

        await initiate.Awaiting(t => t.Within()).Should().ThrowAsync<InvalidDataException>().WithMessage("*message 2*decrypt*");
        (await r.Input.ReadToEndAsync().Within()).Should().BeEmpty("the initiator closes the connection");
    }

    [Fact]
    public async Task InitiateAsync_ShortFrameInsteadOfMessage2_FailsWithInvalidData()
    {
        (IDuplexPipe i, IDuplexPipe r) = NoiseTestSupport.CreateRawPair();
        Task<NoiseSession> initiate = NoiseTestSupport.InitiateAsync(i, _identities.Ed25519(), expected: null);

        await NoiseFraming.ReadFrameAsync(r.Input, "message 1").Within();
        await NoiseFraming.WriteFrameAsync(r.Output, "na\n"u8.ToArray()).Within();

        await initiate.Awaiting(t => t.Within()).Should().ThrowAsync<InvalidDataException>().WithMessage("*message 2 is 3 bytes*");
    }

    [Fact]
    public async Task InitiateAsync_TextThenCloseInsteadOfMessage2_FailsWithEndOfStream()
    {
        (IDuplexPipe i, IDuplexPipe r) = NoiseTestSupport.CreateRawPair();
        Task<NoiseSession> initiate = NoiseTestSupport.InitiateAsync(i, _identities.Ed25519(), expected: null);

        await NoiseFraming.ReadFrameAsync(r.Input, "message 1").Within();
        await r.Output.WriteAsync(System.Text.Encoding.ASCII.GetBytes("HTTP/1.1 400 Bad Request\r\n\r\n"));
        await r.Output.CompleteAsync();

        await initiate.Awaiting(t => t.Within()).Should().ThrowAsync<EndOfStreamException>().WithMessage("*message 2*");
    }

    [Fact]
    public async Task InitiateAsync_StalledResponder_IsBoundedByTheCancellationToken()
    {
        (IDuplexPipe i, IDuplexPipe r) = NoiseTestSupport.CreateRawPair();
        using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(200));

        Task<NoiseSession> initiate = NoiseTestSupport.InitiateAsync(i, _identities.Ed25519(), expected: null, cancellationToken: cts.Token);

        await initiate.Awaiting(t => t.Within()).Should().ThrowAsync<OperationCanceledException>();
        (await NoiseFraming.ReadFrameAsync(r.Input, "message 1").Within()).Should().HaveCount(32);
        (await r.Input.ReadToEndAsync().Within()).Should().BeEmpty("the canceled initiator closes the connection");
    }

    [Fact]
    public async Task RespondAsync_StalledInitiator_IsBoundedByTheCancellationToken()
    {
        (_, IDuplexPipe r) = NoiseTestSupport.CreateRawPair();
        using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(200));

        Task<NoiseSession> respond = NoiseTestSupport.RespondAsync(r, _identities.Ed25519(), cancellationToken: cts.Token);

        await respond.Awaiting(t => t.Within()).Should().ThrowAsync<OperationCanceledException>();
    }

    [Fact]
    public async Task RespondAsync_TransportFrameInTheSameWriteAsMessage3_IsNotConsumedByTheHandshake()
    {
        KeyIdentity initiator = _identities.Ed25519();
        (IDuplexPipe i, IDuplexPipe r) = NoiseTestSupport.CreateRawPair();
        Task<NoiseSession> respond = NoiseTestSupport.RespondAsync(r, _identities.Ed25519());

        // A hand-driven initiator that flushes message 3 and its first transport frame together.
        using (var state = new NoiseHandshakeState(initiator: true, [], Curve25519.Default))
        {
            await NoiseFraming.WriteFrameAsync(i.Output, state.WriteMessage([])).Within();
            state.ReadMessage(await NoiseFraming.ReadFrameAsync(i.Input, "message 2").Within());
            NoiseFraming.WriteFrame(i.Output, state.WriteMessage(NoisePayload.Create(initiator, state.LocalStaticPublicKey, [])));
            (NoiseCipherState send, NoiseCipherState receive) = state.Split();
            using (send)
            using (receive)
            {
                byte[] early = System.Text.Encoding.ASCII.GetBytes("early data");
                var frame = new byte[early.Length + 16];
                send.EncryptWithAd([], early, frame);
                NoiseFraming.WriteFrame(i.Output, frame);
            }

            await i.Output.FlushAsync();
        }

        await using NoiseSession b = await respond.Within();
        byte[] received = await b.Input.ReadExactlyAsync(10).Within();

        System.Text.Encoding.ASCII.GetString(received).Should().Be("early data");
    }

    [Fact]
    public void InitiateAsync_EmptyMuxerName_ThrowsArgumentException()
    {
        (IDuplexPipe i, _) = NoiseTestSupport.CreateRawPair();

        Action initiate = () => NoiseHandshake.InitiateAsync(i, _identities.Ed25519(), SignatureVerifier.Default, null, [""], Curve25519.Default);

        initiate.Should().Throw<ArgumentException>();
    }
}
