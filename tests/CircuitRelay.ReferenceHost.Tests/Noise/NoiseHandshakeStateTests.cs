using CircuitRelay.Crypto;
using CircuitRelay.ReferenceHost.Noise;

namespace CircuitRelay.ReferenceHost.Tests.Noise;

public sealed class NoiseHandshakeStateTests
{
    // cacophony.txt, Noise_XX_25519_ChaChaPoly_SHA256 (the vector set shipped with snow and noise-c).
    private const string Prologue = "4a6f686e2047616c74";
    private const string InitStatic = "e61ef9919cde45dd5f82166404bd08e38bceb5dfdfded0a34c8df7ed542214d1";
    private const string InitEphemeral = "893e28b9dc6ca8d611ab664754b8ceb7bac5117349a4439a6b0569da977c464a";
    private const string RespStatic = "4a3acbfdb163dec651dfa3194dece676d437029c62a408b4c5ea9114246e4893";
    private const string RespEphemeral = "bbdb4cdbd309f1a1f2e1456967fe288cadd6f712d65dc7b7793d5e63da6b375b";
    private const string HandshakeHash = "c8e5f64e846193be2a834104c2a009868d6c9f3bd3c186299888b488b2f1f58e";

    private static readonly (string Payload, string Ciphertext)[] Messages =
    [
        ("4c756477696720766f6e204d69736573", "ca35def5ae56cec33dc2036731ab14896bc4c75dbb07a61f879f8e3afa4c79444c756477696720766f6e204d69736573"),
        ("4d757272617920526f746862617264", "95ebc60d2b1fa672c1f46a8aa265ef51bfe38e7ccb39ec5be34069f14480884381cbad1f276e038c48378ffce2b65285e08d6b68aaa3629a5a8639392490e5b9bd5269c2f1e4f488ed8831161f19b7815528f8982ffe09be9b5c412f8a0db50f8814c7194e83f23dbd8d162c9326ad"),
        ("462e20412e20486179656b", "c7195ffacac1307ff99046f219750fc47693e23c3cb08b89c2af808b444850a80ae475b9df0f169ae80a89be0865b57f58c9fea0d4ec82a286427402f113e4b6ae769a1d95941d49b25030"),
        ("4361726c204d656e676572", "96763ed773f8e47bb3712f0e29b3060ffc956ffc146cee53d5e1df"),
        ("4a65616e2d426170746973746520536179", "3e40f15f6f3a46ae446b253bf8b1d9ffb6ed9b174d272328ff91a7e2e5c79c07f5"),
        ("457567656e2042f6686d20766f6e2042617765726b", "eb3f3515110702e047a6c9da4478b6ead94873c11c0f2d710ddb3f09fce024b3a58502ae3f"),
    ];

    [Fact]
    public void XX_CacophonyVector_HandshakeMessagesMatch()
    {
        using NoiseHandshakeState initiator = NewInitiator();
        using NoiseHandshakeState responder = NewResponder();

        for (int i = 0; i < 3; i++)
        {
            (NoiseHandshakeState writer, NoiseHandshakeState reader) = i % 2 == 0 ? (initiator, responder) : (responder, initiator);
            byte[] payload = Convert.FromHexString(Messages[i].Payload);

            byte[] message = writer.WriteMessage(payload);

            Convert.ToHexStringLower(message).Should().Be(Messages[i].Ciphertext, $"message {i + 1}");
            reader.ReadMessage(message).Should().Equal(payload);
        }

        initiator.IsComplete.Should().BeTrue();
        responder.IsComplete.Should().BeTrue();
        Convert.ToHexStringLower(initiator.HandshakeHash).Should().Be(HandshakeHash);
        Convert.ToHexStringLower(responder.HandshakeHash).Should().Be(HandshakeHash);
    }

    [Fact]
    public void XX_CacophonyVector_TransportMessagesMatchAfterSplit()
    {
        using NoiseHandshakeState initiator = NewInitiator();
        using NoiseHandshakeState responder = NewResponder();
        for (int i = 0; i < 3; i++)
        {
            (NoiseHandshakeState writer, NoiseHandshakeState reader) = i % 2 == 0 ? (initiator, responder) : (responder, initiator);
            reader.ReadMessage(writer.WriteMessage(Convert.FromHexString(Messages[i].Payload)));
        }

        (NoiseCipherState initiatorSend, NoiseCipherState initiatorReceive) = initiator.Split();
        (NoiseCipherState responderSend, NoiseCipherState responderReceive) = responder.Split();
        using (initiatorSend)
        using (initiatorReceive)
        using (responderSend)
        using (responderReceive)
        {
            // Messages keep alternating: 4 and 6 go responder -> initiator, 5 initiator -> responder.
            for (int i = 3; i < Messages.Length; i++)
            {
                (NoiseCipherState send, NoiseCipherState receive) = i % 2 == 0 ? (initiatorSend, responderReceive) : (responderSend, initiatorReceive);
                byte[] payload = Convert.FromHexString(Messages[i].Payload);
                var ciphertext = new byte[payload.Length + 16];
                var decrypted = new byte[payload.Length];

                send.EncryptWithAd([], payload, ciphertext);
                receive.DecryptWithAd([], ciphertext, decrypted);

                Convert.ToHexStringLower(ciphertext).Should().Be(Messages[i].Ciphertext, $"message {i + 1}");
                decrypted.Should().Equal(payload);
            }
        }
    }

    [Fact]
    public void XX_CacophonyVector_EachSideLearnsTheOtherStaticKey()
    {
        using NoiseHandshakeState initiator = NewInitiator();
        using NoiseHandshakeState responder = NewResponder();
        for (int i = 0; i < 3; i++)
        {
            (NoiseHandshakeState writer, NoiseHandshakeState reader) = i % 2 == 0 ? (initiator, responder) : (responder, initiator);
            reader.ReadMessage(writer.WriteMessage([]));
        }

        initiator.RemoteStaticPublicKey.ToArray().Should().Equal(responder.LocalStaticPublicKey.ToArray());
        responder.RemoteStaticPublicKey.ToArray().Should().Equal(initiator.LocalStaticPublicKey.ToArray());
    }

    [Fact]
    public void WriteMessage_EmptyPayloads_HaveTheDigestSizes()
    {
        using var initiator = new NoiseHandshakeState(initiator: true, [], Curve25519.Default);
        using var responder = new NoiseHandshakeState(initiator: false, [], Curve25519.Default);
        byte[] payload = new byte[100];

        byte[] message1 = initiator.WriteMessage([]);
        responder.ReadMessage(message1);
        byte[] message2 = responder.WriteMessage(payload);
        initiator.ReadMessage(message2);
        byte[] message3 = initiator.WriteMessage(payload);

        message1.Length.Should().Be(32);
        message2.Length.Should().Be(32 + 48 + payload.Length + 16);
        message3.Length.Should().Be(48 + payload.Length + 16);
    }

    [Fact]
    public void WriteMessage_NotThisSidesTurn_Throws()
    {
        using var responder = new NoiseHandshakeState(initiator: false, [], Curve25519.Default);

        Action write = () => responder.WriteMessage([]);

        write.Should().Throw<InvalidOperationException>();
    }

    [Fact]
    public void WriteMessage_PayloadBeyondFrame_ThrowsArgumentException()
    {
        using var initiator = new NoiseHandshakeState(initiator: true, [], Curve25519.Default);

        Action write = () => initiator.WriteMessage(new byte[65535 - 31]);

        write.Should().Throw<ArgumentException>();
    }

    [Fact]
    public void ReadMessage_ShortMessage2_ThrowsInvalidDataNamingTheMessage()
    {
        using var initiator = new NoiseHandshakeState(initiator: true, [], Curve25519.Default);
        initiator.WriteMessage([]);

        Action read = () => initiator.ReadMessage(new byte[95]);

        read.Should().Throw<InvalidDataException>().WithMessage("*message 2*95 bytes*96*");
    }

    [Fact]
    public void ReadMessage_RandomMessage2_ThrowsInvalidData()
    {
        using var initiator = new NoiseHandshakeState(initiator: true, [], Curve25519.Default);
        initiator.WriteMessage([]);

        Action read = () => initiator.ReadMessage(PipeTesting.RandomBytes(200, seed: 7));

        read.Should().Throw<InvalidDataException>().WithMessage("*message 2*decrypt*");
    }

    [Fact]
    public void ReadMessage_LowOrderEphemeral_ThrowsInvalidData()
    {
        using var initiator = new NoiseHandshakeState(initiator: true, [], Curve25519.Default);
        initiator.WriteMessage([]);

        // An all-zero u-coordinate is a low-order point: X25519 with it is all zeros.
        Action read = () => initiator.ReadMessage(new byte[96]);

        read.Should().Throw<InvalidDataException>().WithMessage("*low-order*");
    }

    [Fact]
    public void ReadMessage_ShortMessage1_ThrowsInvalidData()
    {
        using var responder = new NoiseHandshakeState(initiator: false, [], Curve25519.Default);

        Action read = () => responder.ReadMessage(new byte[31]);

        read.Should().Throw<InvalidDataException>().WithMessage("*message 1*");
    }

    [Fact]
    public void Split_BeforeCompletion_Throws()
    {
        using var initiator = new NoiseHandshakeState(initiator: true, [], Curve25519.Default);

        Action split = () => initiator.Split();

        split.Should().Throw<InvalidOperationException>();
    }

    private static NoiseHandshakeState NewInitiator() =>
        new(initiator: true, Convert.FromHexString(Prologue), new FixedKeyCurve25519(Convert.FromHexString(InitStatic), Convert.FromHexString(InitEphemeral)));

    private static NoiseHandshakeState NewResponder() =>
        new(initiator: false, Convert.FromHexString(Prologue), new FixedKeyCurve25519(Convert.FromHexString(RespStatic), Convert.FromHexString(RespEphemeral)));
}
