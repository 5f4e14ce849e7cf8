using System.Net;
using CircuitRelay.Abstractions;
using CircuitRelay.InMemory;
using static CircuitRelay.Tests.InMemory.InMemoryTestKit;

namespace CircuitRelay.Tests.InMemory;

public sealed class InMemoryHostConnectionTests : InMemoryHostTestBase
{
    [Fact]
    public async Task ConnectAsync_TwoHosts_BothRaiseConnectionOpened()
    {
        InMemoryHost a = Network.CreateHost();
        InMemoryHost b = Network.CreateHost();
        Task<ConnectionInfo> openedAtA = NextConnectionEvent(h => a.ConnectionOpened += h);
        Task<ConnectionInfo> openedAtB = NextConnectionEvent(h => b.ConnectionOpened += h);

        ConnectionInfo connection = await a.ConnectAsync(b.PeerId).Within();

        (await openedAtA.Within()).Should().BeSameAs(connection);
        ConnectionInfo inbound = await openedAtB.Within();
        inbound.RemotePeer.Should().Be(a.PeerId);
        inbound.Direction.Should().Be(ConnectionDirection.Inbound);
        connection.Direction.Should().Be(ConnectionDirection.Outbound);
        connection.IsRelayed.Should().BeFalse();
        a.GetConnections(b.PeerId).Should().ContainSingle().Which.Should().BeSameAs(connection);
        b.GetConnections(a.PeerId).Should().ContainSingle().Which.Should().BeSameAs(inbound);
    }

    [Fact]
    public async Task ConnectAsync_AlreadyConnected_ReusesTheConnection()
    {
        InMemoryHost a = Network.CreateHost();
        InMemoryHost b = Network.CreateHost();

        ConnectionInfo first = await a.ConnectAsync(b.PeerId).Within();
        ConnectionInfo second = await a.ConnectAsync(b.PeerId).Within();

        second.Should().BeSameAs(first);
    }

    [Fact]
    public async Task OpenStreamAsync_ConcurrentFirstStreams_ShareOneDial()
    {
        InMemoryHost a = Network.CreateHost();
        InMemoryHost b = Network.CreateHost();
        b.SetStreamHandler(EchoProtocol, EchoAsync);

        ILibp2pStream[] streams = await Task.WhenAll(
            Enumerable.Range(0, 8).Select(_ => a.OpenStreamAsync(b.PeerId, EchoProtocol).AsTask())).Within();

        streams.Select(s => s.Connection).Distinct().Should().ContainSingle();
        a.GetConnections(b.PeerId).Should().ContainSingle();
        foreach (ILibp2pStream stream in streams)
        {
            await stream.DisposeAsync();
        }
    }

    [Fact]
    public async Task ConnectAsync_Addresses_DialerSeesListenAddressListenerSeesDialerIpAndEphemeralPort()
    {
        InMemoryHost a = Network.CreateHost();
        InMemoryHost b = Network.CreateHost();
        Task<ConnectionInfo> openedAtB = NextConnectionEvent(h => b.ConnectionOpened += h);

        ConnectionInfo outbound = await a.ConnectAsync(b.PeerId).Within();
        ConnectionInfo inbound = await openedAtB.Within();

        outbound.RemoteAddress.Should().Be(b.ListenAddress);
        inbound.LocalAddress.Should().Be(b.ListenAddress);
        inbound.RemoteAddress.Should().Be(outbound.LocalAddress);
        EndPointOf(inbound.RemoteAddress).Address.Should().Be(EndPointOf(a.ListenAddress).Address);
        EndPointOf(inbound.RemoteAddress).Port.Should().BeGreaterThanOrEqualTo(49152);
    }

    [Fact]
    public async Task ConnectAsync_HostsSharingAnIp_RemoteAddressesShowThatIp()
    {
        InMemoryHost first = Network.CreateHost("192.0.2.7");
        InMemoryHost second = Network.CreateHost("192.0.2.7");
        InMemoryHost relay = Network.CreateHost();
        var inbound = new List<ConnectionInfo>();
        relay.ConnectionOpened += (_, e) =>
        {
            lock (inbound)
            {
                inbound.Add(e.Connection);
            }
        };

        await first.ConnectAsync(relay.PeerId).Within();
        await second.ConnectAsync(relay.PeerId).Within();

        inbound.Should().HaveCount(2);
        inbound.Select(c => EndPointOf(c.RemoteAddress).Address)
            .Should().AllBeEquivalentTo(IPAddress.Parse("192.0.2.7"));
        inbound.Select(c => EndPointOf(c.RemoteAddress).Port).Should().OnlyHaveUniqueItems();
        first.ListenAddress.Should().NotBe(second.ListenAddress);
    }

    [Fact]
    public void CreateHost_NoIpGiven_EachHostGetsADistinctIp()
    {
        InMemoryHost given = Network.CreateHost("10.0.0.1");
        InMemoryHost[] automatic = [Network.CreateHost(), Network.CreateHost(), Network.CreateHost()];

        IPAddress[] ips = [.. automatic.Append(given).Select(h => EndPointOf(h.ListenAddress).Address)];

        ips.Should().OnlyHaveUniqueItems();
        automatic.Should().AllSatisfy(h => h.Addresses.Should().Equal(h.ListenAddress));
    }

    [Fact]
    public void CreateHost_IpGiven_ListensOnIp4TcpAddressWithoutPeerId()
    {
        InMemoryHost host = Network.CreateHost("10.0.0.9");

        host.ListenAddress.ToString().Should().MatchRegex("^/ip4/10\\.0\\.0\\.9/tcp/[0-9]+$");
        host.Addresses.Should().Equal(host.ListenAddress);
    }

    [Fact]
    public void CreateHost_InvalidIp_ThrowsFormatException()
    {
        Action create = () => Network.CreateHost("not-an-ip");

        create.Should().Throw<FormatException>();
    }

    [Fact]
    public void CreateHost_DuplicatePeerId_ThrowsArgumentException()
    {
        TestIdentity identity = TestIdentity.Create();
        Network.CreateHost(identity, TestSignatureVerifier.Instance);

        Action create = () => Network.CreateHost(identity, TestSignatureVerifier.Instance);

        create.Should().Throw<ArgumentException>();
    }

    [Fact]
    public void AddAddress_NewAddress_AppearsAfterTheListenAddress()
    {
        InMemoryHost host = Network.CreateHost();
        Multiaddr external = Multiaddr.Parse("/ip4/203.0.113.5/tcp/4001");

        host.AddAddress(external);
        host.AddAddress(external);

        host.Addresses.Should().Equal(host.ListenAddress, external);
    }

    [Fact]
    public async Task ConnectAsync_TargetRefusesInbound_ThrowsIOException()
    {
        InMemoryHost a = Network.CreateHost();
        InMemoryHost natted = Network.CreateHost();
        natted.AcceptsInboundConnections = false;

        Func<Task> connect = async () => await a.ConnectAsync(natted.PeerId);

        await connect.Should().ThrowAsync<IOException>();
        (await natted.ConnectAsync(a.PeerId).Within()).RemotePeer.Should().Be(a.PeerId);
    }

    [Fact]
    public async Task ConnectAsync_ToSelf_ThrowsIOException()
    {
        InMemoryHost a = Network.CreateHost();

        Func<Task> connect = async () => await a.ConnectAsync(a.PeerId);

        await connect.Should().ThrowAsync<IOException>();
    }

    [Fact]
    public async Task DisconnectAsync_OpenStream_BothSidesRaiseConnectionClosedAndStreamsReset()
    {
        InMemoryHost a = Network.CreateHost();
        InMemoryHost b = Network.CreateHost();
        var serverRead = new TaskCompletionSource<Exception?>(TaskCreationOptions.RunContinuationsAsynchronously);
        b.SetStreamHandler("/test/wait", async (stream, _) =>
        {
            await using (stream)
            {
                try
                {
                    await stream.Input.ReadToEndAsync();
                    serverRead.TrySetResult(null);
                }
                catch (Exception exception)
                {
                    serverRead.TrySetResult(exception);
                }
            }
        });
        await using ILibp2pStream client = await a.OpenStreamAsync(b.PeerId, "/test/wait").Within();
        Task<ConnectionInfo> closedAtA = NextConnectionEvent(h => a.ConnectionClosed += h);
        Task<ConnectionInfo> closedAtB = NextConnectionEvent(h => b.ConnectionClosed += h);

        await a.DisconnectAsync(b.PeerId).Within();

        (await closedAtA.Within()).Should().BeSameAs(client.Connection);
        (await closedAtB.Within()).RemotePeer.Should().Be(a.PeerId);
        (await serverRead.Task.Within()).Should().BeOfType<IOException>();
        await FluentActions.Awaiting(async () => await client.Input.ReadAsync()).Should().ThrowAsync<IOException>();
        a.GetConnections(b.PeerId).Should().BeEmpty();
        b.GetConnections(a.PeerId).Should().BeEmpty();
    }

    [Fact]
    public async Task DisconnectAsync_ConnectionClosed_IsRaisedOncePerSide()
    {
        InMemoryHost a = Network.CreateHost();
        InMemoryHost b = Network.CreateHost();
        await a.ConnectAsync(b.PeerId).Within();
        int closedAtA = 0;
        int closedAtB = 0;
        a.ConnectionClosed += (_, _) => Interlocked.Increment(ref closedAtA);
        b.ConnectionClosed += (_, _) => Interlocked.Increment(ref closedAtB);

        await a.DisconnectAsync(b.PeerId).Within();
        await b.DisconnectAsync(a.PeerId).Within();
        await Network.DisposeAsync().Within();

        closedAtA.Should().Be(1);
        closedAtB.Should().Be(1);
    }

    [Fact]
    public async Task DisposeAsync_Network_ClosesEverythingAndLeavesNoRunningTask()
    {
        InMemoryHost a = Network.CreateHost();
        InMemoryHost b = Network.CreateHost();
        var handlerEnded = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
        b.SetStreamHandler("/test/forever", async (stream, cancellationToken) =>
        {
            await using (stream)
            {
                try
                {
                    await new TaskCompletionSource().Task.WaitAsync(cancellationToken);
                }
                finally
                {
                    handlerEnded.TrySetResult(cancellationToken.IsCancellationRequested);
                }
            }
        });
        b.SetStreamHandler(EchoProtocol, EchoAsync);
        ILibp2pStream forever = await a.OpenStreamAsync(b.PeerId, "/test/forever").Within();
        ILibp2pStream echo = await a.OpenStreamAsync(b.PeerId, EchoProtocol).Within();
        Task<ConnectionInfo> closedAtA = NextConnectionEvent(h => a.ConnectionClosed += h);
        Task<ConnectionInfo> closedAtB = NextConnectionEvent(h => b.ConnectionClosed += h);

        await Network.DisposeAsync().Within();

        handlerEnded.Task.IsCompleted.Should().BeTrue("disposal awaits every handler");
        (await handlerEnded.Task).Should().BeTrue("handlers see the shutdown token");
        closedAtA.IsCompleted.Should().BeTrue();
        closedAtB.IsCompleted.Should().BeTrue();
        a.PendingTaskCount.Should().Be(0);
        b.PendingTaskCount.Should().Be(0);
        await FluentActions.Awaiting(async () => await echo.Input.ReadAsync()).Should().ThrowAsync<IOException>();
        await FluentActions.Awaiting(async () => await a.OpenStreamAsync(b.PeerId, EchoProtocol)).Should().ThrowAsync<ObjectDisposedException>();
        await forever.DisposeAsync();
        await echo.DisposeAsync();
        await Network.DisposeAsync().Within();
    }

    private static IPEndPoint EndPointOf(Multiaddr address)
    {
        address.TryGetIPEndPoint(out IPEndPoint? endPoint).Should().BeTrue();
        return endPoint!;
    }
}
