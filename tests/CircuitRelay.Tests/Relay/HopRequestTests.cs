using CircuitRelay.Abstractions;
using CircuitRelay.Multiformats;
using CircuitRelay.Protocol;
using CircuitRelay.Protocol.Pb;
using CircuitRelay.Server;
using CircuitRelay.Tests.Infrastructure;
using Google.Protobuf;

namespace CircuitRelay.Tests.Relay;

/// <summary>The relay's inbound hop: reading a request and the answer-once request objects.</summary>
public sealed class HopRequestTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task ReadRequestAsync_Reserve_ReturnsReservationRequestFromThePeer()
    {
        await using var fixture = RelayFixture.Create();
        var (peer, request) = await RequestAsync(fixture, new HopMessage { Type = HopMessage.Types.Type.Reserve });

        request.Should().BeOfType<ReservationRequest>().Which.Peer.Should().Be(peer.Node.Id);
        await request.DisposeAsync();
    }

    [Fact]
    public async Task ReadRequestAsync_ConnectWithoutPeer_CircuitRequestWithoutTarget()
    {
        await using var fixture = RelayFixture.Create();
        var (_, request) = await RequestAsync(fixture, new HopMessage { Type = HopMessage.Types.Type.Connect });

        request.Should().BeOfType<CircuitRequest>().Which.Target.Should().BeNull();
        await request.DisposeAsync();
    }

    [Fact]
    public async Task ReadRequestAsync_StatusMessage_ThrowsProtocolViolationWithUnexpectedMessage()
    {
        await using var fixture = RelayFixture.Create();
        var (_, stream) = await OpenAsync(fixture);
        await WriteAsync(stream.Client, MessageIO.HopStatus(RelayStatus.Ok));

        Func<Task> act = () => InboundHop.ReadRequestAsync(stream.Server, Timeout, fixture.Time, CancellationToken.None);

        RelayException error = (await act.Should().ThrowAsync<RelayException>().Within()).Which;
        error.Kind.Should().Be(RelayErrorKind.ProtocolViolation);
        error.Status.Should().Be(RelayStatus.UnexpectedMessage);
    }

    [Fact]
    public async Task ReadRequestAsync_NoRequestBeforeTheTimeout_ThrowsTimeout()
    {
        await using var fixture = RelayFixture.Create();
        var (_, stream) = await OpenAsync(fixture);
        Task<HopRequest> read = InboundHop.ReadRequestAsync(stream.Server, Timeout, fixture.Time, CancellationToken.None);

        fixture.Time.Advance(Timeout);

        (await read.Awaiting(r => r).Should().ThrowAsync<RelayException>().Within()).Which.Kind.Should().Be(RelayErrorKind.Timeout);
    }

    [Fact]
    public async Task DenyAsync_Twice_ThrowsInvalidOperation()
    {
        await using var fixture = RelayFixture.Create();
        var (_, request) = await RequestAsync(fixture, new HopMessage { Type = HopMessage.Types.Type.Reserve });
        await request.DenyAsync(RelayStatus.PermissionDenied).Within();

        Func<Task> act = () => request.DenyAsync(RelayStatus.ReservationRefused);

        await act.Should().ThrowAsync<InvalidOperationException>().Within();
    }

    [Fact]
    public async Task AcceptAsync_AfterDeny_ThrowsInvalidOperation()
    {
        await using var fixture = RelayFixture.Create();
        var (_, request) = await RequestAsync(fixture, ConnectTo(fixture.RelayId));
        await request.DenyAsync(RelayStatus.NoReservation).Within();

        Func<Task> act = () => ((CircuitRequest)request).AcceptAsync(limit: null);

        await act.Should().ThrowAsync<InvalidOperationException>().Within();
    }

    [Fact]
    public async Task DenyAsync_WithOk_ThrowsArgumentAndLeavesTheRequestUnanswered()
    {
        await using var fixture = RelayFixture.Create();
        var (_, request) = await RequestAsync(fixture, new HopMessage { Type = HopMessage.Types.Type.Reserve });

        Func<Task> act = () => request.DenyAsync(RelayStatus.Ok);

        await act.Should().ThrowAsync<ArgumentException>().Within();
        request.IsAnswered.Should().BeFalse();
        await request.DisposeAsync();
    }

    [Fact]
    public async Task DenyAsync_Status_PeerReadsThatStatusThenEnd()
    {
        await using var fixture = RelayFixture.Create();
        var (peer, request) = await RequestAsync(fixture, new HopMessage { Type = HopMessage.Types.Type.Reserve });

        await request.DenyAsync(RelayStatus.PermissionDenied).Within();

        HopMessage answer = await MessageIO.ReadHopAsync(peer.Connection.Input, CancellationToken.None).Within();
        answer.Status.Should().Be(Status.PermissionDenied);
        (await peer.Connection.Input.ReadUntilEndOrResetAsync().Within()).Should().Be((Array.Empty<byte>(), false));
    }

    [Fact]
    public async Task DisposeAsync_ReservationUnanswered_DeniedWithReservationRefused()
    {
        await using var fixture = RelayFixture.Create();
        var (peer, request) = await RequestAsync(fixture, new HopMessage { Type = HopMessage.Types.Type.Reserve });

        await request.DisposeAsync();

        (await MessageIO.ReadHopAsync(peer.Connection.Input, CancellationToken.None).Within()).Status.Should().Be(Status.ReservationRefused);
        request.IsAnswered.Should().BeTrue();
    }

    [Fact]
    public async Task DisposeAsync_CircuitUnanswered_DeniedWithConnectionFailed()
    {
        await using var fixture = RelayFixture.Create();
        var (peer, request) = await RequestAsync(fixture, ConnectTo(fixture.RelayId));

        await request.DisposeAsync();

        (await MessageIO.ReadHopAsync(peer.Connection.Input, CancellationToken.None).Within()).Status.Should().Be(Status.ConnectionFailed);
    }

    [Fact]
    public async Task DisposeAsync_AfterAccept_SendsNothingMore()
    {
        await using var fixture = RelayFixture.Create();
        var (peer, request) = await RequestAsync(fixture, ConnectTo(fixture.RelayId));
        ILibp2pStream? circuit = await ((CircuitRequest)request).AcceptAsync(new RelayLimit(TimeSpan.FromMinutes(2), 1 << 17)).Within();

        await request.DisposeAsync();
        await circuit!.DisposeAsync();

        HopMessage ok = await MessageIO.ReadHopAsync(peer.Connection.Input, CancellationToken.None).Within();
        ok.Status.Should().Be(Status.Ok);
        ok.Limit.Duration.Should().Be(120u);
        ok.Limit.Data.Should().Be(1UL << 17);
        (await peer.Connection.Input.ReadUntilEndOrResetAsync().Within()).Should().Be((Array.Empty<byte>(), false));
    }

    private static HopMessage ConnectTo(PeerId target) => new()
    {
        Type = HopMessage.Types.Type.Connect,
        Peer = new Peer { Id = ByteString.CopyFrom(target.ToByteArray()) },
    };

    private static async Task<((TestNode Node, ILibp2pStream Connection) Peer, HopRequest Request)> RequestAsync(RelayFixture fixture, HopMessage message)
    {
        var (node, stream) = await OpenAsync(fixture);
        await WriteAsync(stream.Client, message);
        HopRequest request = await InboundHop.ReadRequestAsync(stream.Server, Timeout, fixture.Time, CancellationToken.None).Within();
        return ((node, stream.Client), request);
    }

    /// <summary>A hop-like stream from a fresh node to another one whose handler hands the stream to the test.</summary>
    private static async Task<(TestNode Node, (ILibp2pStream Client, ILibp2pStream Server) Stream)> OpenAsync(RelayFixture fixture)
    {
        const string protocol = "/test/hop-request/1.0.0";
        TestNode server = fixture.CreateNode();
        var accepted = new TaskCompletionSource<ILibp2pStream>(TaskCreationOptions.RunContinuationsAsynchronously);
        server.Host.SetStreamHandler(protocol, (stream, _) =>
        {
            accepted.TrySetResult(stream);
            return Task.CompletedTask;
        });
        TestNode client = fixture.CreateNode();
        ILibp2pStream outbound = await client.Host.OpenStreamAsync(server.Id, protocol, server.DialHere).Within();
        return (client, (outbound, await accepted.Task.Within()));
    }

    private static async Task WriteAsync(ILibp2pStream stream, HopMessage message)
    {
        byte[] body = message.ToByteArray();
        await stream.Output.WriteAsync((byte[])[.. Varint.Encode((ulong)body.Length), .. body]).Within();
    }
}
