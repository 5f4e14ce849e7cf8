using CircuitRelay.Abstractions;
using CircuitRelay.Tests.Infrastructure;

namespace CircuitRelay.Tests.Relay;

/// <summary>A relayed connection is a raw connection: upgraded by the host, it carries many streams.</summary>
public sealed class MultiplexingTests
{
    private const string Echo = "/echo/1.0.0";

    [Fact]
    public async Task RelayedConnection_UpgradedByHost_CarriesConcurrentStreams()
    {
        await using var fixture = RelayFixture.CreateUnlimited();
        var (target, _) = await fixture.CreateHostListenerAsync();
        TestNode source = fixture.CreateNode();
        target.Host.SetStreamHandler(Echo, EchoAsync, new StreamHandlerOptions { AllowLimitedConnection = true });
        Task<ConnectionInfo> inboundTask = NextRelayedConnectionOpenedAsync(target.Host);

        ConnectionInfo outbound = await source.Host.DialAsync(fixture.CircuitAddressOf(target)).Within();
        ConnectionInfo inbound = await inboundTask.Within();
        outbound.IsRelayed.Should().BeTrue();
        inbound.RemotePeer.Should().Be(source.Id);

        Task[] streams = [.. Enumerable.Range(0, 16).Select(async i =>
        {
            ILibp2pStream stream = await source.Host.OpenStreamAsync(target.Id, Echo, new OpenStreamOptions { AllowLimitedConnection = true });
            stream.Connection.IsRelayed.Should().BeTrue();
            byte[] payload = PipeTesting.RandomBytes(256 * 1024, i);
            Task send = stream.Output.WriteAllAsync(payload);
            byte[] echoed = await stream.Input.ReadToEndAsync();
            await send;
            echoed.Should().Equal(payload);
            await stream.DisposeAsync();
        })];

        await Task.WhenAll(streams).Within();
        fixture.Server.GetStatistics().ActiveCircuits.Should().Be(1, "all 16 streams share one circuit");
    }

    private static Task<ConnectionInfo> NextRelayedConnectionOpenedAsync(ILibp2pHost host)
    {
        var opened = new TaskCompletionSource<ConnectionInfo>(TaskCreationOptions.RunContinuationsAsynchronously);
        host.ConnectionOpened += (_, e) =>
        {
            if (e.Connection.IsRelayed)
            {
                opened.TrySetResult(e.Connection);
            }
        };
        return opened.Task;
    }
}
