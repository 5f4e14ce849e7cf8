using CircuitRelay.Crypto;
using CircuitRelay.Multiformats;
using CircuitRelay.Abstractions;
using CircuitRelay.Protocols.Identify;
using CircuitRelay.ReferenceHost.Tests.TestSupport;
using Google.Protobuf;
using Microsoft.Extensions.Logging.Abstractions;
using IdentifyMessage = CircuitRelay.Protocols.Identify.Pb.Identify;

namespace CircuitRelay.Protocols.Tests.Identify;

/// <summary>The querying side against a peer that answers with a hand-written handler.</summary>
public sealed class IdentifyQueryValidationTests : IAsyncLifetime
{
    private static readonly StreamHandlerOptions AnyConnection = new() { AllowLimitedConnection = true };

    private readonly ServiceTestNetwork _net = new();
    private readonly ManualTimeProvider _time = new();
    private Libp2pHost _a = null!;
    private Libp2pHost _b = null!;
    private IdentifyService _idA = null!;

    public async Task InitializeAsync()
    {
        _a = _net.CreateHost("10.0.2.1");
        _b = _net.CreateHost("10.0.2.2");
        _idA = _net.Track(new IdentifyService(_a, () => ["/ipfs/id/1.0.0"], "host-a/1.0", NullLogger.Instance, _time));
        _idA.Start();
        await ServiceTestNetwork.ConnectAsync(_a, _b).Within();
    }

    public async Task DisposeAsync() => await _net.DisposeAsync();

    [Fact]
    public async Task IdentifyAsync_KeyOfAnotherPeer_ThrowsInvalidDataException()
    {
        using var other = KeyIdentity.Generate();
        AnswerWith(Frame(new IdentifyMessage { PublicKey = ByteString.CopyFrom(other.PublicKey.ToProtobuf()), AgentVersion = "liar/1.0" }));

        Func<Task> identify = () => _idA.IdentifyAsync(_b.PeerId).Within();

        await identify.Should().ThrowAsync<InvalidDataException>();
        _idA.Peers.Should().NotContainKey(_b.PeerId);
    }

    [Fact]
    public async Task IdentifyAsync_MalformedPublicKey_ThrowsInvalidDataException()
    {
        AnswerWith(Frame(new IdentifyMessage { PublicKey = ByteString.CopyFrom(0x08, 0x01, 0x12, 0x03, 0x01, 0x02, 0x03) }));

        Func<Task> identify = () => _idA.IdentifyAsync(_b.PeerId).Within();

        await identify.Should().ThrowAsync<InvalidDataException>();
    }

    [Fact]
    public async Task IdentifyAsync_MalformedProtobuf_ThrowsInvalidDataException()
    {
        AnswerWith([0x03, 0x0a, 0x7f, 0x01]);

        Func<Task> identify = () => _idA.IdentifyAsync(_b.PeerId).Within();

        await identify.Should().ThrowAsync<InvalidDataException>();
    }

    [Fact]
    public async Task IdentifyAsync_MessageOver8KiB_ThrowsInvalidDataException()
    {
        AnswerWith(Frame(new IdentifyMessage { AgentVersion = new string('x', 8200) }));

        Func<Task> identify = () => _idA.IdentifyAsync(_b.PeerId).Within();

        await identify.Should().ThrowAsync<InvalidDataException>();
    }

    [Fact]
    public async Task IdentifyAsync_MessageOf8KiB_IsAccepted()
    {
        var message = new IdentifyMessage { AgentVersion = new string('x', 8189) };
        message.CalculateSize().Should().Be(8192);
        AnswerWith(Frame(message));

        IdentifyInfo info = await _idA.IdentifyAsync(_b.PeerId).Within();

        info.AgentVersion.Should().HaveLength(8189);
    }

    [Fact]
    public async Task IdentifyAsync_TruncatedFrame_ThrowsEndOfStreamException()
    {
        AnswerWith([0x10, 0x32, 0x02]);

        Func<Task> identify = () => _idA.IdentifyAsync(_b.PeerId).Within();

        await identify.Should().ThrowAsync<EndOfStreamException>();
    }

    [Fact]
    public async Task IdentifyAsync_NoMessage_ThrowsEndOfStreamException()
    {
        AnswerWith([]);

        Func<Task> identify = () => _idA.IdentifyAsync(_b.PeerId).Within();

        await identify.Should().ThrowAsync<EndOfStreamException>();
    }

    [Fact]
    public async Task IdentifyAsync_SeveralMessages_MergesThemFieldByField()
    {
        var first = new IdentifyMessage { PublicKey = ByteString.CopyFrom(_b.Identity.PublicKey.ToProtobuf()), AgentVersion = "old/1.0" };
        first.Protocols.Add("/first/1.0.0");
        first.ListenAddrs.Add(ByteString.CopyFrom(Multiaddr.Parse("/ip4/10.0.2.2/tcp/1").ToByteArray()));
        var second = new IdentifyMessage { AgentVersion = "new/2.0" };
        second.Protocols.Add("/second/1.0.0");
        second.ListenAddrs.Add(ByteString.CopyFrom(Multiaddr.Parse("/ip4/10.0.2.2/tcp/2").ToByteArray()));
        AnswerWith([.. Frame(first), .. Frame(second)]);

        IdentifyInfo info = await _idA.IdentifyAsync(_b.PeerId).Within();

        info.PublicKey.Should().Be(_b.Identity.PublicKey);
        info.AgentVersion.Should().Be("new/2.0");
        info.Protocols.Should().Equal("/first/1.0.0", "/second/1.0.0");
        info.ListenAddresses.Should().Equal(Multiaddr.Parse("/ip4/10.0.2.2/tcp/1"), Multiaddr.Parse("/ip4/10.0.2.2/tcp/2"));
    }

    [Fact]
    public async Task IdentifyAsync_MoreThanTenMessages_IgnoresTheRest()
    {
        var frames = new List<byte>();
        for (int i = 0; i < 11; i++)
        {
            frames.AddRange(Frame(new IdentifyMessage { AgentVersion = $"agent/{i}" }));
        }

        AnswerWith([.. frames]);

        IdentifyInfo info = await _idA.IdentifyAsync(_b.PeerId).Within();

        info.AgentVersion.Should().Be("agent/9");
    }

    [Fact]
    public async Task IdentifyAsync_NoPublicKey_IsAcceptedWithoutKey()
    {
        AnswerWith(Frame(new IdentifyMessage { AgentVersion = "keyless/1.0" }));

        IdentifyInfo info = await _idA.IdentifyAsync(_b.PeerId).Within();

        info.PublicKey.Should().BeNull();
        info.AgentVersion.Should().Be("keyless/1.0");
    }

    [Fact]
    public async Task IdentifyAsync_UndecodableAddresses_AreIgnored()
    {
        var message = new IdentifyMessage { ObservedAddr = ByteString.CopyFrom(0xff, 0xff, 0xff) };
        message.ListenAddrs.Add(ByteString.CopyFrom(0x04, 0x01));
        message.ListenAddrs.Add(ByteString.CopyFrom(Multiaddr.Parse("/ip4/10.0.2.2/tcp/7").ToByteArray()));
        AnswerWith(Frame(message));

        IdentifyInfo info = await _idA.IdentifyAsync(_b.PeerId).Within();

        info.ListenAddresses.Should().Equal(Multiaddr.Parse("/ip4/10.0.2.2/tcp/7"));
        info.ObservedAddress.Should().BeNull();
        Multiaddr? local = _a.GetConnections(_b.PeerId).Single().LocalAddress;
        _a.ObservedAddresses.Where(o => o.Address != local).Should().BeEmpty("nothing but B's true view (from the host's own Identify, racing this one) may be reported; the undecodable address is not");
    }

    [Fact]
    public async Task IdentifyAsync_PeerNeverAnswers_ThrowsTimeoutException()
    {
        var opened = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _b.SetStreamHandler(IdentifyService.ProtocolId, async (stream, _) =>
        {
            opened.TrySetResult();
            await using (stream)
            {
                await PipeTesting.ReadToEndAsync(stream.Input);
            }
        }, AnyConnection);

        Task<IdentifyInfo> identify = _idA.IdentifyAsync(_b.PeerId);
        await opened.Task.Within();
        _time.Advance(TimeSpan.FromSeconds(9));
        identify.IsCompleted.Should().BeFalse();
        _time.Advance(TimeSpan.FromSeconds(1));

        await FluentActions.Awaiting(() => identify.Within()).Should().ThrowAsync<TimeoutException>();
    }

    [Fact]
    public async Task IdentifyAsync_CallerCancels_ThrowsOperationCanceledException()
    {
        _b.SetStreamHandler(IdentifyService.ProtocolId, async (stream, _) =>
        {
            await using (stream)
            {
                await PipeTesting.ReadToEndAsync(stream.Input);
            }
        }, AnyConnection);
        using var cts = new CancellationTokenSource();

        Task<IdentifyInfo> identify = _idA.IdentifyAsync(_b.PeerId, cts.Token);
        await cts.CancelAsync();

        await FluentActions.Awaiting(() => identify.Within()).Should().ThrowAsync<OperationCanceledException>();
    }

    private static byte[] Frame(IdentifyMessage message)
    {
        byte[] body = message.ToByteArray();
        return [.. Varint.Encode((ulong)body.Length), .. body];
    }

    /// <summary>Makes B answer every query with exactly <paramref name="bytes"/>, then close.</summary>
    private void AnswerWith(byte[] bytes) =>
        _b.SetStreamHandler(IdentifyService.ProtocolId, async (stream, _) =>
        {
            await stream.Output.WriteAsync(bytes);
            await stream.DisposeAsync();
        }, AnyConnection);
}
