using System.Buffers;
using System.IO.Pipelines;
using CircuitRelay.Abstractions;

namespace CircuitRelay.ReferenceHost.Tests.Host;

public sealed class FeaturesGatesTests : IAsyncLifetime
{
    private const string StopProtocol = "/libp2p/circuit/relay/0.2.0/stop";
    private readonly HostTestKit _kit = new();

    [Fact]
    public async Task Check_ConnectionStageDenied_AbortsTheRawConnectionBeforeTheHandshake()
    {
        Libp2pHost dialer = await _kit.StartAsync();
        Libp2pHost host = await _kit.StartAsync(configure: o => o.HandshakeTimeout = TimeSpan.FromSeconds(5));
        RecordingGate gate = RecordingGate.Denying(InboundStage.Connection);
        host.AddGate(gate);

        Func<Task> act = () => dialer.DialAsync(HostTestKit.AddressOf(host)).AsTask().Within();

        await act.Should().ThrowAsync<IOException>();
        host.Connections.Should().BeEmpty();
        gate.Attempts.Should().ContainSingle().Which.RemotePeer.Should().BeNull("no handshake happened yet");
    }

    [Fact]
    public async Task Check_SecuredStageDenied_ClosesTheConnectionAfterTheHandshake()
    {
        Libp2pHost dialer = await _kit.StartAsync();
        Libp2pHost host = await _kit.StartAsync();
        RecordingGate gate = RecordingGate.Denying(InboundStage.Secured);
        host.AddGate(gate);
        bool opened = false;
        host.ConnectionOpened += (_, _) => opened = true;

        ConnectionInfo atDialer = await dialer.DialAsync(HostTestKit.AddressOf(host)).Within();

        await WhenCancelledAsync(atDialer.Closed).Within();
        opened.Should().BeFalse();
        host.Connections.Should().BeEmpty();
        gate.Attempts.Should().Contain(a => a.Stage == InboundStage.Secured)
            .Which.RemotePeer.Should().Be(dialer.Identity.PeerId);
    }

    [Fact]
    public async Task Check_StreamStageDenied_ResetsTheStream()
    {
        Libp2pHost dialer = await _kit.StartAsync();
        Libp2pHost host = await _kit.StartAsync();
        host.AddGate(new RecordingGate(a => a.Stage == InboundStage.Stream && a.Protocol == HostTestKit.Echo ? InboundDecision.Deny("no-echo") : InboundDecision.Allow));
        await dialer.DialAsync(HostTestKit.AddressOf(host)).Within();

        Func<Task> act = () => HostTestKit.EchoRoundTripAsync(dialer, host.Identity.PeerId, 1024).Within();

        await act.Should().ThrowAsync<IOException>();
        dialer.GetConnections(host.Identity.PeerId).Should().ContainSingle("only the stream is refused, not the connection");
    }

    [Fact]
    public async Task Check_GateAllows_EveryStageIsAskedAndTheConnectionWorks()
    {
        Libp2pHost dialer = await _kit.StartAsync();
        Libp2pHost host = await _kit.StartAsync();
        var gate = new RecordingGate(_ => InboundDecision.Allow);
        host.AddGate(gate);
        await dialer.DialAsync(HostTestKit.AddressOf(host)).Within();

        (await HostTestKit.EchoRoundTripAsync(dialer, host.Identity.PeerId, 1024).Within()).Should().BeTrue();

        gate.Attempts.Select(a => a.Stage).Should().Contain([InboundStage.Connection, InboundStage.Secured, InboundStage.Stream]);
        gate.Attempts.Should().Contain(a => a.Stage == InboundStage.Stream && a.Protocol == HostTestKit.Echo);
    }

    [Fact]
    public async Task AddGate_RegistrationDisposed_GateIsNoLongerAsked()
    {
        Libp2pHost dialer = await _kit.StartAsync();
        Libp2pHost host = await _kit.StartAsync();
        RecordingGate gate = RecordingGate.Denying(InboundStage.Connection);
        IDisposable registration = host.AddGate(gate);

        registration.Dispose();

        await dialer.DialAsync(HostTestKit.AddressOf(host)).Within();
        gate.Attempts.Should().BeEmpty();
    }

    [Fact]
    public async Task Check_CircuitStageDenied_RelayReadsTheGatesStatusOnTheWire()
    {
        (Libp2pHost relayHost, _) = await _kit.StartRelayAsync();
        Libp2pHost listenerHost = await _kit.StartAsync(listen: false);
        _kit.AddCircuitTransport(listenerHost);
        RecordingGate gate = RecordingGate.Denying(InboundStage.Circuit, RelayStatus.ResourceLimitExceeded);
        listenerHost.AddGate(gate);
        await listenerHost.ListenAsync(HostTestKit.AddressOf(relayHost).Encapsulate("/p2p-circuit")).Within();
        using var source = Crypto.KeyIdentity.Generate();

        // Play the relay: send STOP CONNECT on the connection that holds the reservation.
        ILibp2pStream stop = await relayHost.OpenStreamAsync(listenerHost.Identity.PeerId, StopProtocol, new OpenStreamOptions { ExistingConnectionOnly = true }).Within();
        await WriteStopConnectAsync(stop.Output, source.PeerId).Within();
        int status = await ReadStopStatusAsync(stop.Input).Within();

        status.Should().Be((int)RelayStatus.ResourceLimitExceeded);
        gate.Attempts.Should().ContainSingle(a => a.Stage == InboundStage.Circuit)
            .Which.Should().Match<InboundAttempt>(a => a.RemotePeer == source.PeerId && a.Relay == relayHost.Identity.PeerId);
        await stop.DisposeAsync();
    }

    [Fact]
    public async Task Check_CircuitStageAllowed_CircuitIsAccepted()
    {
        (Libp2pHost relayHost, _) = await _kit.StartRelayAsync();
        Libp2pHost listenerHost = await _kit.StartAsync(listen: false);
        _kit.AddCircuitTransport(listenerHost);
        var gate = new RecordingGate(_ => InboundDecision.Allow);
        listenerHost.AddGate(gate);
        ITransportListener listener = await listenerHost.ListenAsync(HostTestKit.AddressOf(relayHost).Encapsulate("/p2p-circuit")).Within();
        Libp2pHost dialerHost = await _kit.StartAsync(listen: false);
        _kit.AddCircuitTransport(dialerHost);

        ConnectionInfo connection = await dialerHost.DialAsync(listener.Addresses[0].WithPeerId(listenerHost.Identity.PeerId)).Within();

        connection.IsRelayed.Should().BeTrue();
        gate.Attempts.Should().Contain(a => a.Stage == InboundStage.Circuit && a.RemotePeer == dialerHost.Identity.PeerId);
    }

    private static async Task WhenCancelledAsync(CancellationToken token)
    {
        var cancelled = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using CancellationTokenRegistration registration = token.Register(() => cancelled.TrySetResult());
        await cancelled.Task;
    }

    /// <summary>A length-prefixed StopMessage { type = CONNECT, peer = { id } }.</summary>
    private static async Task WriteStopConnectAsync(PipeWriter output, PeerId source)
    {
        byte[] id = source.ToByteArray();
        byte[] peer = [0x0a, .. Varint(id.Length), .. id];
        byte[] message = [0x08, 0x00, 0x12, .. Varint(peer.Length), .. peer];
        await output.WriteAsync((byte[])[.. Varint(message.Length), .. message]);
    }

    /// <summary>Reads one length-prefixed StopMessage and returns its status field (4).</summary>
    private static async Task<int> ReadStopStatusAsync(PipeReader input)
    {
        var received = new List<byte>();
        while (true)
        {
            ReadResult result = await input.ReadAsync();
            received.AddRange(result.Buffer.ToArray());
            input.AdvanceTo(result.Buffer.End);
            int offset = 0;
            if (TryReadVarint(received, ref offset, out ulong length) && received.Count >= offset + (int)length)
            {
                int end = offset + (int)length;
                while (offset < end)
                {
                    TryReadVarint(received, ref offset, out ulong tag);
                    TryReadVarint(received, ref offset, out ulong value);
                    if (tag == (4 << 3))
                    {
                        return (int)value;
                    }

                    if ((tag & 7) == 2)
                    {
                        offset += (int)value;
                    }
                }

                return -1;
            }

            if (result.IsCompleted)
            {
                return -1;
            }
        }
    }

    private static byte[] Varint(int value)
    {
        var bytes = new List<byte>();
        uint v = (uint)value;
        while (v >= 0x80)
        {
            bytes.Add((byte)(v | 0x80));
            v >>= 7;
        }

        bytes.Add((byte)v);
        return [.. bytes];
    }

    private static bool TryReadVarint(List<byte> bytes, ref int offset, out ulong value)
    {
        value = 0;
        for (int shift = 0; offset < bytes.Count; shift += 7)
        {
            byte b = bytes[offset++];
            value |= (ulong)(b & 0x7f) << shift;
            if (b < 0x80)
            {
                return true;
            }
        }

        return false;
    }

    public Task InitializeAsync() => Task.CompletedTask;

    public Task DisposeAsync() => _kit.DisposeAsync().AsTask();
}
