using CircuitRelay.Abstractions;

namespace CircuitRelay.ReferenceHost.Tests.Host;

public sealed class FeaturesConnectionsTests : IAsyncLifetime
{
    private readonly HostTestKit _kit = new();

    [Fact]
    public async Task Connections_TwoPeers_ListsBothWithLiveClosedTokens()
    {
        Libp2pHost host = await _kit.StartAsync();
        Libp2pHost b = await _kit.StartAsync();
        Libp2pHost c = await _kit.StartAsync();

        await host.DialAsync(HostTestKit.AddressOf(b)).Within();
        await host.DialAsync(HostTestKit.AddressOf(c)).Within();

        IReadOnlyList<ConnectionInfo> connections = ((IConnectionsFeature)host).Connections;
        connections.Select(i => i.RemotePeer).Should().BeEquivalentTo([b.Identity.PeerId, c.Identity.PeerId]);
        connections.Should().OnlyContain(i => i.Closed.CanBeCanceled && !i.Closed.IsCancellationRequested);
    }

    [Fact]
    public async Task CloseAsync_LiveConnection_FiresClosedAndForgetsIt()
    {
        Libp2pHost host = await _kit.StartAsync();
        Libp2pHost b = await _kit.StartAsync();
        ConnectionInfo connection = await host.DialAsync(HostTestKit.AddressOf(b)).Within();
        bool raised = false;
        host.ConnectionClosed += (_, e) => raised |= ReferenceEquals(e.Connection, connection);

        await ((IConnectionsFeature)host).CloseAsync(connection).Within();

        connection.Closed.IsCancellationRequested.Should().BeTrue();
        raised.Should().BeTrue();
        host.Connections.Should().BeEmpty();
    }

    [Fact]
    public async Task CloseAsync_LocalSideCloses_RemoteClosedTokenFires()
    {
        Libp2pHost host = await _kit.StartAsync();
        Libp2pHost b = await _kit.StartAsync();
        ConnectionInfo connection = await host.DialAsync(HostTestKit.AddressOf(b)).Within();
        ConnectionInfo atB = await WaitForConnectionAsync(b, host.Identity.PeerId).Within();
        var remoteClosed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using CancellationTokenRegistration registration = atB.Closed.Register(() => remoteClosed.TrySetResult());

        await host.CloseAsync(connection).Within();

        await remoteClosed.Task.Within();
        b.Connections.Should().BeEmpty();
    }

    [Fact]
    public async Task CloseAsync_AlreadyClosed_DoesNothing()
    {
        Libp2pHost host = await _kit.StartAsync();
        Libp2pHost b = await _kit.StartAsync();
        ConnectionInfo connection = await host.DialAsync(HostTestKit.AddressOf(b)).Within();
        await host.CloseAsync(connection).Within();

        Func<Task> again = () => host.CloseAsync(connection).AsTask().Within();

        await again.Should().NotThrowAsync();
    }

    private static async Task<ConnectionInfo> WaitForConnectionAsync(Libp2pHost host, PeerId peer)
    {
        var opened = new TaskCompletionSource<ConnectionInfo>(TaskCreationOptions.RunContinuationsAsynchronously);
        host.ConnectionOpened += (_, e) =>
        {
            if (e.Connection.RemotePeer == peer)
            {
                opened.TrySetResult(e.Connection);
            }
        };
        if (host.GetConnections(peer) is [var existing, ..])
        {
            return existing;
        }

        return await opened.Task;
    }

    public Task InitializeAsync() => Task.CompletedTask;

    public Task DisposeAsync() => _kit.DisposeAsync().AsTask();
}
