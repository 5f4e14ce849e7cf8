using System.Diagnostics.Metrics;
using System.IO.Pipelines;
using System.Security.Cryptography;
using CircuitRelay.Client;
using CircuitRelay.Crypto;
using CircuitRelay.Abstractions;
using CircuitRelay.ReferenceHost.Yamux;
using CircuitRelay.Server;
using CircuitRelay.Transport;
using Microsoft.Extensions.Logging.Abstractions;

namespace CircuitRelay.ReferenceHost.Tests.Host;

public sealed class TcpHostTests : IAsyncLifetime
{
    private const string Echo = "/echo/1.0.0";
    private readonly List<IAsyncDisposable> _owned = [];
    private readonly TestMeterFactory _meters = new();

    [Fact]
    public async Task Connect_OverLoopback_EchoesBothWays()
    {
        Libp2pHost a = await StartAsync();
        Libp2pHost b = await StartAsync();
        b.SetStreamHandler(Echo, EchoAsync);

        ConnectionInfo connection = await a.DialAsync(b.ListenAddresses[0].WithPeerId(b.Identity.PeerId)).Within();

        connection.RemotePeer.Should().Be(b.Identity.PeerId);
        connection.IsRelayed.Should().BeFalse();
        (await EchoRoundTripAsync(a, b.Identity.PeerId, 4 * 1024 * 1024, relayed: false).Within()).Should().BeTrue();
        b.GetConnections(a.Identity.PeerId).Should().ContainSingle().Which.Direction.Should().Be(ConnectionDirection.Inbound);
    }

    [Fact]
    public async Task Connect_WrongPeerId_FailsTheHandshake()
    {
        Libp2pHost a = await StartAsync();
        Libp2pHost b = await StartAsync();
        using var other = KeyIdentity.Generate();

        Func<Task> act = () => a.DialAsync(b.ListenAddresses[0].WithPeerId(other.PeerId)).AsTask();

        await act.Should().ThrowAsync<IOException>();
        a.GetConnections(b.Identity.PeerId).Should().BeEmpty();
    }

    [Fact]
    public async Task OpenStream_UnknownProtocol_ThrowsIOException()
    {
        Libp2pHost a = await StartAsync();
        Libp2pHost b = await StartAsync();
        await a.DialAsync(b.ListenAddresses[0].WithPeerId(b.Identity.PeerId)).Within();

        Func<Task> act = () => a.OpenStreamAsync(b.Identity.PeerId, "/nope/1.0.0").AsTask();

        await act.Should().ThrowAsync<IOException>();
    }

    [Fact]
    public async Task Relay_OverTcp_ListenerReachableAndStreamsEchoThroughTheCircuit()
    {
        Libp2pHost relayHost = await StartAsync();
        var relay = new RelayServer(relayHost, new RelayServerOptions { CircuitDataLimit = 0, CircuitDurationLimit = TimeSpan.Zero }, NullLoggerFactory.Instance, _meters, TimeProvider.System);
        _owned.Insert(0, relay);
        relay.Start();
        Multiaddr relayAddress = relayHost.ListenAddresses[0].WithPeerId(relayHost.Identity.PeerId);

        Libp2pHost listenerHost = await StartAsync();
        listenerHost.SetStreamHandler(Echo, EchoAsync, new StreamHandlerOptions { AllowLimitedConnection = true });
        RelayClient listenerClient = StartClient(listenerHost);
        listenerHost.AddTransport(new CircuitTransport(listenerClient));
        ITransportListener listener = await listenerHost.ListenAsync(relayAddress.Encapsulate("/p2p-circuit")).Within();
        _owned.Insert(0, listener);

        Libp2pHost dialerHost = await StartAsync();
        dialerHost.AddTransport(new CircuitTransport(StartClient(dialerHost)));
        Multiaddr circuit = Multiaddr.CreateCircuit(relayHost.ListenAddresses[0], relayHost.Identity.PeerId, listenerHost.Identity.PeerId);

        ConnectionInfo connection = await dialerHost.DialAsync(circuit).Within();

        connection.IsRelayed.Should().BeTrue();
        connection.RemotePeer.Should().Be(listenerHost.Identity.PeerId);
        Task<bool>[] echoes = [.. Enumerable.Range(0, 4).Select(_ => EchoRoundTripAsync(dialerHost, listenerHost.Identity.PeerId, 1024 * 1024, relayed: true))];
        (await Task.WhenAll(echoes).Within()).Should().AllBeEquivalentTo(true);
        relay.GetStatistics().ActiveCircuits.Should().Be(1);
    }

    [Fact]
    public async Task InboundGarbage_IsDroppedAndTheHostKeepsServing()
    {
        Libp2pHost host = await StartAsync();
        host.SetStreamHandler(Echo, EchoAsync);
        using var socket = new System.Net.Sockets.Socket(System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
        host.ListenAddresses[0].TryGetIPEndPoint(out System.Net.IPEndPoint? endPoint).Should().BeTrue();
        await socket.ConnectAsync(endPoint!);

        await socket.SendAsync(RandomNumberGenerator.GetBytes(300), System.Net.Sockets.SocketFlags.None);

        (await ReadUntilClosedAsync(socket).Within()).Should().BeTrue("the host closes a connection that does not speak multistream-select");
        Libp2pHost client = await StartAsync();
        await client.DialAsync(host.ListenAddresses[0].WithPeerId(host.Identity.PeerId)).Within();
        (await EchoRoundTripAsync(client, host.Identity.PeerId, 1024, relayed: false).Within()).Should().BeTrue();
    }

    [Fact]
    public async Task InboundStall_IsDroppedAfterTheHandshakeTimeout()
    {
        Libp2pHost host = await StartAsync(handshakeTimeout: TimeSpan.FromMilliseconds(300));
        using var socket = new System.Net.Sockets.Socket(System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
        host.ListenAddresses[0].TryGetIPEndPoint(out System.Net.IPEndPoint? endPoint).Should().BeTrue();
        await socket.ConnectAsync(endPoint!);

        // Say nothing: the host must give up on its own.
        (await ReadUntilClosedAsync(socket).Within()).Should().BeTrue();
    }

    [Fact]
    public async Task MaxStreamReceiveWindow_HandlerDoesNotRead_PeerStopsAtTheWindow()
    {
        const int window = 512 * 1024;
        Libp2pHost sender = await StartAsync();
        Libp2pHost receiver = await StartAsync(configure: o =>
        {
            o.StreamReceiveWindow = window;
            o.MaxStreamReceiveWindow = window;
        });
        var held = new TaskCompletionSource<ILibp2pStream>(TaskCreationOptions.RunContinuationsAsynchronously);
        receiver.SetStreamHandler(Echo, (stream, _) =>
        {
            held.TrySetResult(stream);
            return Task.CompletedTask;
        });

        await sender.DialAsync(receiver.ListenAddresses[0].WithPeerId(receiver.Identity.PeerId)).Within();
        ILibp2pStream outbound = await sender.OpenStreamAsync(receiver.Identity.PeerId, Echo).Within();
        byte[] payload = RandomNumberGenerator.GetBytes(2 * window);
        Task write = Task.Run(async () =>
        {
            await outbound.Output.WriteAsync(payload);
            await outbound.Output.CompleteAsync();
        });
        ILibp2pStream inbound = await held.Task.Within();

        // Look at what arrives without consuming it, until (nearly) the whole window is there.
        using var received = new MemoryStream();
        while (true)
        {
            ReadResult peek = await inbound.Input.ReadAsync().Within();
            peek.Buffer.Length.Should().BeLessThanOrEqualTo(window);
            if (peek.Buffer.Length < window - 1024)
            {
                inbound.Input.AdvanceTo(peek.Buffer.Start, peek.Buffer.End);
                continue;
            }

            // The sender has used up the window the receiver granted and waits; with the default 4 MiB it would not.
            ((YamuxLibp2pStream)outbound).Stream.SendWindow.Should().BeLessThan(1024);
            write.IsCompleted.Should().BeFalse();
            foreach (ReadOnlyMemory<byte> segment in peek.Buffer)
            {
                received.Write(segment.Span);
            }

            inbound.Input.AdvanceTo(peek.Buffer.End);
            break;
        }

        // Reading releases it: everything arrives.
        while (true)
        {
            ReadResult result = await inbound.Input.ReadAsync().Within();
            foreach (ReadOnlyMemory<byte> segment in result.Buffer)
            {
                received.Write(segment.Span);
            }

            inbound.Input.AdvanceTo(result.Buffer.End);
            if (result.IsCompleted)
            {
                break;
            }
        }

        await write.Within();
        received.ToArray().Should().Equal(payload);
    }

    [Fact]
    public async Task MaxInboundConnections_BusyConnections_OneMoreIsRefused()
    {
        Libp2pHost host = await StartAsync(configure: o => o.MaxInboundConnections = 2);
        host.SetStreamHandler(Echo, EchoAsync);
        Multiaddr target = host.ListenAddresses[0].WithPeerId(host.Identity.PeerId);
        Libp2pHost first = await StartAsync();
        Libp2pHost second = await StartAsync();
        Libp2pHost third = await StartAsync();
        await first.DialAsync(target).Within();
        await second.DialAsync(target).Within();
        await using ILibp2pStream busyFirst = await first.OpenStreamAsync(host.Identity.PeerId, Echo).Within();
        await using ILibp2pStream busySecond = await second.OpenStreamAsync(host.Identity.PeerId, Echo).Within();

        Func<Task> overTheCap = () => third.DialAsync(target).Within();

        await overTheCap.Should().ThrowAsync<IOException>("both connections carry a stream: none is idle to give way");
        host.GetConnections(third.Identity.PeerId).Should().BeEmpty();
        (await EchoRoundTripAsync(first, host.Identity.PeerId, 1024, relayed: false).Within()).Should().BeTrue();
    }

    [Fact]
    public void Validate_NoInboundConnections_Throws()
    {
        var options = new Libp2pHostOptions { MaxInboundConnections = 0 };

        Action act = options.Validate;

        act.Should().Throw<ArgumentException>().WithMessage("*MaxInboundConnections*");
    }

    [Theory]
    [InlineData(128 * 1024, 16 * 1024 * 1024)]
    [InlineData(4 * 1024 * 1024, 1024 * 1024)]
    public void Validate_StreamWindowsOutOfRange_Throws(int window, int maxWindow)
    {
        var options = new Libp2pHostOptions { StreamReceiveWindow = window, MaxStreamReceiveWindow = maxWindow };

        Action act = options.Validate;

        act.Should().Throw<ArgumentException>().WithMessage("*StreamReceiveWindow*");
    }

    private static async Task<bool> ReadUntilClosedAsync(System.Net.Sockets.Socket socket)
    {
        var buffer = new byte[4096];
        try
        {
            while (await socket.ReceiveAsync(buffer, System.Net.Sockets.SocketFlags.None) > 0)
            {
            }
        }
        catch (System.Net.Sockets.SocketException)
        {
            // Reset counts as closed.
        }

        return true;
    }

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (IAsyncDisposable owned in _owned)
        {
            await owned.DisposeAsync();
        }

        _meters.Dispose();
    }

    private async Task<Libp2pHost> StartAsync(TimeSpan? handshakeTimeout = null, Action<Libp2pHostOptions>? configure = null)
    {
        var options = new Libp2pHostOptions { HandshakeTimeout = handshakeTimeout ?? TimeSpan.FromSeconds(10) };
        options.ListenAddresses.Add("/ip4/127.0.0.1/tcp/0");
        configure?.Invoke(options);
        Libp2pHost host = await Libp2pHost.StartAsync(KeyIdentity.Generate(), options, NullLoggerFactory.Instance);
        _owned.Add(host);
        return host;
    }

    private RelayClient StartClient(Libp2pHost host)
    {
        var client = new RelayClient(host, new RelayClientOptions(), NullLoggerFactory.Instance, _meters, TimeProvider.System);
        _owned.Insert(0, client);
        client.Start();
        return client;
    }

    private static async Task<bool> EchoRoundTripAsync(Libp2pHost from, PeerId to, int size, bool relayed)
    {
        ILibp2pStream stream = await from.OpenStreamAsync(to, Echo, new OpenStreamOptions { AllowLimitedConnection = relayed });
        stream.Connection.IsRelayed.Should().Be(relayed);
        return await HostTestKit.EchoOverAsync(stream, size);
    }

}
