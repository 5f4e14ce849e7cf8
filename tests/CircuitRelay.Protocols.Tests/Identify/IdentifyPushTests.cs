using CircuitRelay.Multiformats;
using CircuitRelay.Abstractions;
using CircuitRelay.Protocols.Identify;
using CircuitRelay.ReferenceHost.Tests.TestSupport;
using Google.Protobuf;
using Microsoft.Extensions.Logging.Abstractions;
using IdentifyMessage = CircuitRelay.Protocols.Identify.Pb.Identify;

namespace CircuitRelay.Protocols.Tests.Identify;

public sealed class IdentifyPushTests : IAsyncLifetime
{
    private static readonly OpenStreamOptions AnyConnection = new() { AllowLimitedConnection = true };

    private readonly ServiceTestNetwork _net = new();
    private readonly List<string> _protocolsOfB = ["/ipfs/id/1.0.0", "/test/b/1.0.0"];
    private Libp2pHost _a = null!;
    private Libp2pHost _b = null!;
    private IdentifyService _idA = null!;
    private IdentifyService _idB = null!;

    public async Task InitializeAsync()
    {
        _a = _net.CreateHost("10.0.1.1");
        _b = _net.CreateHost("10.0.1.2");
        _idA = _net.Track(new IdentifyService(_a, () => ["/ipfs/id/1.0.0"], "host-a/1.0", NullLogger.Instance, TimeProvider.System));
        _idB = _net.Track(new IdentifyService(_b, () => [.. _protocolsOfB], "host-b/1.0", NullLogger.Instance, TimeProvider.System));
        _idA.Start();
        _idB.Start();
        await ServiceTestNetwork.ConnectAsync(_a, _b).Within();
    }

    public async Task DisposeAsync() => await _net.DisposeAsync();

    [Fact]
    public async Task PushAsync_ProtocolsChanged_UpdatesRemotePeerInfo()
    {
        await _idA.IdentifyAsync(_b.PeerId).Within();
        Task<IdentifiedEventArgs> pushed = NextIdentifiedAsync(_idA);
        _protocolsOfB.Add("/test/b/2.0.0");

        await _idB.PushAsync().Within();

        IdentifiedEventArgs args = await pushed.Within();
        args.Peer.Should().Be(_b.PeerId);
        args.Info.Protocols.Should().Equal("/ipfs/id/1.0.0", "/test/b/1.0.0", "/test/b/2.0.0");
        _idA.Peers[_b.PeerId].Protocols.Should().Contain("/test/b/2.0.0");
    }

    [Fact]
    public async Task PushAsync_PeerNotYetIdentified_StoresPushedInfo()
    {
        Task<IdentifiedEventArgs> pushed = NextIdentifiedAsync(_idA);

        await _idB.PushAsync().Within();

        await pushed.Within();
        _idA.Peers[_b.PeerId].PublicKey.Should().Be(_b.Identity.PublicKey);
        _idA.Peers[_b.PeerId].AgentVersion.Should().Be("host-b/1.0");
    }

    [Fact]
    public async Task PushAsync_PeerWithoutPushHandler_CompletesWithoutThrowing()
    {
        _a.RemoveStreamHandler(IdentifyService.PushProtocolId);

        Func<Task> push = () => _idB.PushAsync().Within();

        await push.Should().NotThrowAsync();
    }

    [Fact]
    public async Task PushHandler_PartialMessage_KeepsMissingFields()
    {
        IdentifyInfo before = await _idA.IdentifyAsync(_b.PeerId).Within();
        Task<IdentifiedEventArgs> pushed = NextIdentifiedAsync(_idA);

        await SendRawPushAsync(_b, _a, new IdentifyMessage { AgentVersion = "host-b/1.1" });

        IdentifyInfo after = (await pushed.Within()).Info;
        after.AgentVersion.Should().Be("host-b/1.1");
        after.Protocols.Should().Equal(before.Protocols);
        after.ListenAddresses.Should().Equal(before.ListenAddresses);
        after.PublicKey.Should().Be(before.PublicKey);
        after.ProtocolVersion.Should().Be(before.ProtocolVersion);
    }

    [Fact]
    public async Task PushHandler_KeyOfAnotherPeer_ResetsStreamAndKeepsInfo()
    {
        IdentifyInfo before = await _idA.IdentifyAsync(_b.PeerId).Within();
        var impostor = new IdentifyMessage
        {
            PublicKey = ByteString.CopyFrom(_a.Identity.PublicKey.ToProtobuf()),
            AgentVersion = "impostor/6.6.6",
        };

        Func<Task> push = () => SendRawPushAsync(_b, _a, impostor);

        await push.Should().ThrowAsync<IOException>();
        _idA.Peers[_b.PeerId].Should().BeSameAs(before);
    }

    [Fact]
    public async Task PushHandler_MalformedMessage_ResetsStreamAndHostStillServes()
    {
        await using ILibp2pStream stream = await _b.OpenStreamAsync(_a.PeerId, IdentifyService.PushProtocolId, AnyConnection).Within();

        // Field 1 (bytes) claiming 127 bytes that are not there.
        await LengthPrefixed.WriteAsync(stream.Output, new byte[] { 0x0a, 0x7f, 0x01 }).Within();
        await stream.Output.CompleteAsync();

        Func<Task> read = () => PipeTesting.ReadToEndAsync(stream.Input).Within();
        await read.Should().ThrowAsync<IOException>();
        IdentifyInfo info = await _idB.IdentifyAsync(_a.PeerId).Within();
        info.AgentVersion.Should().Be("host-a/1.0");
    }

    [Fact]
    public async Task PushHandler_OversizeMessage_ResetsStream()
    {
        await using ILibp2pStream stream = await _b.OpenStreamAsync(_a.PeerId, IdentifyService.PushProtocolId, AnyConnection).Within();
        var huge = new IdentifyMessage { AgentVersion = new string('x', 9000) };

        await LengthPrefixed.WriteAsync(stream.Output, huge.ToByteArray()).Within();
        await stream.Output.CompleteAsync();

        Func<Task> read = () => PipeTesting.ReadToEndAsync(stream.Input).Within();
        await read.Should().ThrowAsync<IOException>();
    }

    private static Task<IdentifiedEventArgs> NextIdentifiedAsync(IdentifyService service)
    {
        var raised = new TaskCompletionSource<IdentifiedEventArgs>(TaskCreationOptions.RunContinuationsAsynchronously);
        service.Identified += (_, e) => raised.TrySetResult(e);
        return raised.Task;
    }

    /// <summary>Sends <paramref name="message"/> as a push and waits for the receiver to close (or reset) the stream.</summary>
    private static async Task SendRawPushAsync(Libp2pHost from, Libp2pHost to, IdentifyMessage message)
    {
        await using ILibp2pStream stream = await from.OpenStreamAsync(to.PeerId, IdentifyService.PushProtocolId, AnyConnection).Within();
        await LengthPrefixed.WriteAsync(stream.Output, message.ToByteArray()).Within();
        await stream.Output.CompleteAsync();
        await PipeTesting.ReadToEndAsync(stream.Input).Within();
    }
}
