using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using CircuitRelay.Abstractions;
using CircuitRelay.Crypto;
using CircuitRelay.Multiformats;
using CircuitRelay.ReferenceHost.Plaintext;
using CircuitRelay.ReferenceHost.Tests.TestSupport;
using CircuitRelay.ReferenceHost.Transports.Memory;
using Google.Protobuf;

namespace CircuitRelay.ReferenceHost.Tests.Plaintext;

public sealed class PlaintextHandshakeTests : IDisposable
{
    private readonly KeyIdentity _local = KeyIdentity.Generate();
    private readonly KeyIdentity _remote = KeyIdentity.Generate();
    private readonly DuplexPipe _localRaw;
    private readonly DuplexPipe _remoteRaw;

    public PlaintextHandshakeTests() => (_localRaw, _remoteRaw) = DuplexPipe.CreatePair();

    public void Dispose()
    {
        _local.Dispose();
        _remote.Dispose();
    }

    [Fact]
    public async Task ExchangeAsync_BothSides_LearnEachOther()
    {
        Task<PlaintextResult> remote = PlaintextHandshake.ExchangeAsync(_remoteRaw, _remote, expectedRemote: null);

        PlaintextResult local = await PlaintextHandshake.ExchangeAsync(_localRaw, _local, _remote.PeerId).Within();

        local.RemotePeer.Should().Be(_remote.PeerId);
        local.RemotePublicKey.Should().Be(_remote.PublicKey);
        PlaintextResult learned = await remote.Within();
        learned.RemotePeer.Should().Be(_local.PeerId);
        learned.RemotePublicKey.Should().Be(_local.PublicKey);
    }

    [Fact]
    public async Task ExchangeAsync_HashedPeerId_IsCheckedAgainstTheKey()
    {
        using var ecdsa = new KeyIdentity(PrivateKey.GenerateEcdsaP256());
        Task<PlaintextResult> remote = PlaintextHandshake.ExchangeAsync(_remoteRaw, ecdsa, expectedRemote: null);

        PlaintextResult local = await PlaintextHandshake.ExchangeAsync(_localRaw, _local, ecdsa.PeerId).Within();

        local.RemotePeer.Should().Be(ecdsa.PeerId);
        (await remote.Within()).RemotePeer.Should().Be(_local.PeerId);
    }

    [Fact]
    public async Task ExchangeAsync_WireFormat_IsLengthPrefixedIdThenSerializedKey()
    {
        Task<PlaintextResult> local = PlaintextHandshake.ExchangeAsync(_localRaw, _local, expectedRemote: null);

        byte[]? body = await LengthPrefixed.ReadAsync(_remoteRaw.Input, PlaintextHandshake.MaxMessageSize).Within();
        await SendAsync(Exchange(_remote.PeerId, _remote.PublicKey));
        await local.Within();

        byte[] id = _local.PeerId.ToByteArray();
        byte[] key = _local.PublicKey.ToProtobuf();
        body.Should().Equal([0x0a, (byte)id.Length, .. id, 0x12, (byte)key.Length, .. key]);
    }

    [Fact]
    public async Task ExchangeAsync_RemoteIsNotTheExpectedPeer_ThrowsNamingBothIds()
    {
        using var other = KeyIdentity.Generate();
        Task<PlaintextResult> remote = PlaintextHandshake.ExchangeAsync(_remoteRaw, _remote, expectedRemote: null);

        Func<Task> exchange = () => PlaintextHandshake.ExchangeAsync(_localRaw, _local, other.PeerId).Within();

        await exchange.Should().ThrowAsync<InvalidDataException>()
            .WithMessage($"*{_remote.PeerId}*{other.PeerId}*");
        await remote.Within();
    }

    [Fact]
    public async Task ExchangeAsync_IdIsNotTheKeys_Throws()
    {
        using var other = KeyIdentity.Generate();
        await SendAsync(Exchange(other.PeerId, _remote.PublicKey));

        Func<Task> exchange = () => PlaintextHandshake.ExchangeAsync(_localRaw, _local, expectedRemote: null).Within();

        await exchange.Should().ThrowAsync<InvalidDataException>()
            .WithMessage($"*claims the id {other.PeerId}*{_remote.PeerId}*");
    }

    [Fact]
    public async Task ExchangeAsync_MissingKey_Throws()
    {
        await SendAsync(new ReferenceHost.Plaintext.Pb.Exchange { Id = ByteString.CopyFrom(_remote.PeerId.AsSpan()) }.ToByteArray());

        Func<Task> exchange = () => PlaintextHandshake.ExchangeAsync(_localRaw, _local, expectedRemote: null).Within();

        await exchange.Should().ThrowAsync<InvalidDataException>().WithMessage("*lacks*");
    }

    [Fact]
    public async Task ExchangeAsync_InvalidKey_Throws()
    {
        var message = new ReferenceHost.Plaintext.Pb.Exchange
        {
            Id = ByteString.CopyFrom(_remote.PeerId.AsSpan()),
            Pubkey = ByteString.CopyFrom(0x08, 0x01, 0x12, 0x03, 1, 2, 3),
        };
        await SendAsync(message.ToByteArray());

        Func<Task> exchange = () => PlaintextHandshake.ExchangeAsync(_localRaw, _local, expectedRemote: null).Within();

        await exchange.Should().ThrowAsync<InvalidDataException>().WithMessage("*invalid id or key*");
    }

    [Fact]
    public async Task ExchangeAsync_NotAProtobuf_Throws()
    {
        await SendAsync([0xff, 0xff, 0xff]);

        Func<Task> exchange = () => PlaintextHandshake.ExchangeAsync(_localRaw, _local, expectedRemote: null).Within();

        await exchange.Should().ThrowAsync<InvalidDataException>();
    }

    [Fact]
    public async Task ExchangeAsync_LengthOverTheCap_ThrowsWithoutWaitingForTheBody()
    {
        // Only the prefix is sent and the pipe stays open: waiting for the body would hang.
        byte[] prefix = Varint.Encode(PlaintextHandshake.MaxMessageSize + 1);
        await _remoteRaw.Output.WriteAsync(prefix).Within();

        Func<Task> exchange = () => PlaintextHandshake.ExchangeAsync(_localRaw, _local, expectedRemote: null).Within();

        await exchange.Should().ThrowAsync<InvalidDataException>().WithMessage("*exceeds the maximum of 4096*");
    }

    [Fact]
    public async Task ExchangeAsync_TruncatedMessage_ThrowsEndOfStream()
    {
        byte[] message = Exchange(_remote.PeerId, _remote.PublicKey);
        byte[] framed = [.. Varint.Encode((ulong)message.Length), .. message.AsSpan(0, message.Length - 1)];
        await _remoteRaw.Output.WriteAsync(framed).Within();
        await _remoteRaw.Output.CompleteAsync();

        Func<Task> exchange = () => PlaintextHandshake.ExchangeAsync(_localRaw, _local, expectedRemote: null).Within();

        await exchange.Should().ThrowAsync<EndOfStreamException>();
    }

    [Fact]
    public async Task ExchangeAsync_ClosedBeforeTheMessage_ThrowsEndOfStream()
    {
        await _remoteRaw.Output.CompleteAsync();

        Func<Task> exchange = () => PlaintextHandshake.ExchangeAsync(_localRaw, _local, expectedRemote: null).Within();

        await exchange.Should().ThrowAsync<EndOfStreamException>();
    }

    [Fact]
    public async Task ExchangeAsync_Fails_ClosesTheConnection()
    {
        using var other = KeyIdentity.Generate();
        await SendAsync(Exchange(other.PeerId, _remote.PublicKey));
        Func<Task> exchange = () => PlaintextHandshake.ExchangeAsync(_localRaw, _local, expectedRemote: null).Within();
        await exchange.Should().ThrowAsync<InvalidDataException>();

        byte[] sent = await _remoteRaw.Input.ReadToEndAsync().Within();

        sent.Should().NotBeEmpty("the local Exchange went out before the failure, then the connection ended");
    }

    [Fact]
    public async Task ExchangeAsync_BytesAfterTheMessage_AreLeftForTheNextProtocol()
    {
        byte[] next = "\u0013/multistream/1.0.0\n"u8.ToArray();
        var buffer = new ArrayBufferWriter<byte>();
        LengthPrefixed.Write(buffer, Exchange(_remote.PeerId, _remote.PublicKey));
        buffer.Write(next);
        await _remoteRaw.Output.WriteAsync(buffer.WrittenMemory).Within();
        await _remoteRaw.Output.CompleteAsync();

        await PlaintextHandshake.ExchangeAsync(_localRaw, _local, _remote.PeerId).Within();

        (await _localRaw.Input.ReadToEndAsync().Within()).Should().Equal(next);
    }

    [Fact]
    public async Task ExchangeAsync_OverMemoryTransport_BothDirectionsCarryTheNextProtocolUnchanged()
    {
        using var network = new MemoryNetwork();
        MemoryTransport server = network.AddNode(IPAddress.Parse("198.51.100.1"));
        MemoryTransport client = network.AddNode(IPAddress.Parse("198.51.100.2"));
        await using ITransportListener listener = await server.ListenAsync(Multiaddr.Parse("/ip4/198.51.100.1/tcp/4001")).Within();
        await using ITransportConnection dialer = await client.DialAsync(listener.Addresses[0]).Within();
        await using ITransportConnection acceptor = (await listener.AcceptAsync().Within())!;

        Task<PlaintextResult> accepting = PlaintextHandshake.ExchangeAsync(acceptor, _remote, expectedRemote: null);
        PlaintextResult dialed = await PlaintextHandshake.ExchangeAsync(dialer, _local, _remote.PeerId).Within();
        PlaintextResult accepted = await accepting.Within();
        await dialer.Output.WriteAsync(new byte[] { 1, 2, 3 }).Within();
        await dialer.Output.CompleteAsync();
        await acceptor.Output.WriteAsync(new byte[] { 4 }).Within();
        await acceptor.Output.CompleteAsync();

        dialed.RemotePeer.Should().Be(_remote.PeerId);
        accepted.RemotePeer.Should().Be(_local.PeerId);
        (await acceptor.Input.ReadToEndAsync().Within()).Should().Equal(1, 2, 3);
        (await dialer.Input.ReadToEndAsync().Within()).Should().Equal(4);
    }

    private static byte[] Exchange(PeerId id, PublicKey key) => new ReferenceHost.Plaintext.Pb.Exchange
    {
        Id = ByteString.CopyFrom(id.AsSpan()),
        Pubkey = ByteString.CopyFrom(key.ToProtobuf()),
    }.ToByteArray();

    private async Task SendAsync(byte[] body) => await LengthPrefixed.WriteAsync(_remoteRaw.Output, body).Within();
}
