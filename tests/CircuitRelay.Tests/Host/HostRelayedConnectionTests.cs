using System.IO.Pipelines;
using CircuitRelay.Abstractions;
using CircuitRelay.Tests.Infrastructure;
using CircuitRelay.Server;
using static CircuitRelay.Tests.Host.HostTestKit;

namespace CircuitRelay.Tests.Host;

/// <summary>
/// Relayed connections on the plug-in surface: the host upgrades a circuit (Noise + Yamux over the relay) into a
/// connection that carries streams, marks it relayed and limited, keeps handlers without AllowLimitedConnection off
/// limited connections, and closes it when the circuit dies.
/// </summary>
public sealed class HostRelayedConnectionTests
{
    private static readonly OpenStreamOptions ExistingOnly = new() { ExistingConnectionOnly = true };
    private static readonly OpenStreamOptions ExistingOnlyAllowLimited = new() { ExistingConnectionOnly = true, AllowLimitedConnection = true };

    [Fact]
    public async Task RelayedConnection_Unlimited_CarriesConcurrentStreams()
    {
        await using var fixture = RelayFixture.CreateUnlimited();
        var (b, a, atA, atB) = await RelayedPairAsync(fixture);
        b.Host.SetStreamHandler(EchoProtocol, EchoAsync);

        atA.IsRelayed.Should().BeTrue();
        atA.RemoteAddress.IsRelayed.Should().BeTrue();
        atA.IsLimited.Should().BeFalse();
        atA.Relay.Should().Be(fixture.RelayId);
        atA.Direction.Should().Be(ConnectionDirection.Outbound);
        atB.Direction.Should().Be(ConnectionDirection.Inbound);
        atB.IsRelayed.Should().BeTrue();

        async Task RoundTripAsync(int seed)
        {
            byte[] data = RandomBytes((64 * 1024) + seed, seed);
            await using ILibp2pStream stream = await a.Host.OpenStreamAsync(b.Id, EchoProtocol, ExistingOnly);
            stream.Connection.Should().BeSameAs(atA);
            Task<byte[]> echoed = stream.Input.ReadToEndAsync();
            await stream.Output.WriteAllAndCompleteAsync(data);
            (await echoed).Should().Equal(data);
        }

        await Task.WhenAll(Enumerable.Range(1, 20).Select(RoundTripAsync)).Within();
    }

    [Fact]
    public async Task RelayedConnection_ListenerSide_ReachesTheDialersHandlers()
    {
        await using var fixture = RelayFixture.CreateUnlimited();
        var (b, a, _, atB) = await RelayedPairAsync(fixture);
        a.Host.SetStreamHandler(EchoProtocol, EchoAsync);

        await using ILibp2pStream stream = await b.Host.OpenStreamAsync(a.Id, EchoProtocol, ExistingOnly).Within();
        await stream.Output.WriteAllAndCompleteAsync([4, 2]);

        (await stream.Input.ReadToEndAsync().Within()).Should().Equal(4, 2);
        stream.Connection.Should().BeSameAs(atB);
        stream.Connection.Direction.Should().Be(ConnectionDirection.Inbound);
    }

    [Fact]
    public async Task OpenStreamAsync_LimitedConnectionAndHandlerWithoutAllowLimited_IsRefused()
    {
        await using var fixture = RelayFixture.Create();
        var (b, a, _, _) = await RelayedPairAsync(fixture);
        b.Host.SetStreamHandler(EchoProtocol, EchoAsync);

        Func<Task> open = async () => await a.Host.OpenStreamAsync(b.Id, EchoProtocol, ExistingOnlyAllowLimited).Within();

        await open.Should().ThrowAsync<IOException>();
    }

    [Fact]
    public async Task OpenStreamAsync_LimitedConnectionAndHandlerAllowingLimited_IsAccepted()
    {
        await using var fixture = RelayFixture.Create();
        var (b, a, atA, _) = await RelayedPairAsync(fixture);
        b.Host.SetStreamHandler(EchoProtocol, EchoAsync, new StreamHandlerOptions { AllowLimitedConnection = true });

        await using ILibp2pStream stream = await a.Host.OpenStreamAsync(b.Id, EchoProtocol, ExistingOnlyAllowLimited).Within();
        await stream.Output.WriteAllAndCompleteAsync([1]);

        (await stream.Input.ReadToEndAsync().Within()).Should().Equal(1);
        stream.Connection.Should().BeSameAs(atA);
        stream.Connection.IsLimited.Should().BeTrue();
        stream.Connection.Limit.Should().Be(new RelayLimit(TimeSpan.FromMinutes(2), 128 * 1024), "the relay's default limit");
    }

    [Fact]
    public async Task OpenStreamAsync_OnlyLimitedConnectionAndLimitedNotAllowed_DoesNotUseIt()
    {
        await using var fixture = RelayFixture.Create();
        var (b, a, _, _) = await RelayedPairAsync(fixture);
        b.Host.SetStreamHandler(EchoProtocol, EchoAsync, new StreamHandlerOptions { AllowLimitedConnection = true });

        Func<Task> open = async () => await a.Host.OpenStreamAsync(b.Id, EchoProtocol, ExistingOnly).Within();

        await open.Should().ThrowAsync<IOException>();
    }

    [Fact]
    public async Task OpenStreamAsync_DirectAndRelayedConnections_PrefersDirect()
    {
        await using var fixture = RelayFixture.CreateUnlimited();
        var (b, a, _, _) = await RelayedPairAsync(fixture);
        b.Host.SetStreamHandler(EchoProtocol, EchoAsync);
        ConnectionInfo direct = await a.Host.DialAsync(b.Address, new DialOptions { ForceNewConnection = true }).Within(); // an unlimited relayed connection would be reused

        await using ILibp2pStream stream = await a.Host.OpenStreamAsync(b.Id, EchoProtocol, ExistingOnly).Within();

        stream.Connection.Should().BeSameAs(direct);
        a.Host.GetConnections(b.Id).Should().HaveCount(2);
    }

    [Fact]
    public async Task RelayDropsTheTarget_RelayedConnectionClosedOnceOnBothSidesAndStreamsReset()
    {
        await using var fixture = RelayFixture.CreateUnlimited();
        var (b, a, atA, atB) = await RelayedPairAsync(fixture);
        var parked = new TaskCompletionSource<ILibp2pStream>(TaskCreationOptions.RunContinuationsAsynchronously);
        b.Host.SetStreamHandler("/test/park", (stream, _) =>
        {
            parked.TrySetResult(stream);
            return Task.CompletedTask;
        });
        await using ILibp2pStream client = await a.Host.OpenStreamAsync(b.Id, "/test/park", ExistingOnly).Within();
        ILibp2pStream server = await parked.Task.Within();
        int closedAtA = 0;
        int closedAtB = 0;
        a.Host.ConnectionClosed += (_, e) => Count(e, atA, ref closedAtA);
        b.Host.ConnectionClosed += (_, e) => Count(e, atB, ref closedAtB);
        Task<ConnectionInfo> closedA = NextConnectionEvent(h => a.Host.ConnectionClosed += h, c => c == atA);
        Task<ConnectionInfo> closedB = NextConnectionEvent(h => b.Host.ConnectionClosed += h, c => c == atB);

        // The relay drops b: the circuit dies, and with it the relayed connection at both ends.
        await fixture.RelayHost.DisconnectAsync(b.Id).Within();

        (await closedA.Within()).Should().BeSameAs(atA);
        (await closedB.Within()).Should().BeSameAs(atB);
        await FluentActions.Awaiting(async () => await client.Input.ReadAsync().Within()).Should().ThrowAsync<IOException>();
        await FluentActions.Awaiting(async () => await server.Input.ReadAsync().Within()).Should().ThrowAsync<IOException>();
        await server.DisposeAsync();
        await a.Host.DisposeAsync().Within();
        await b.Host.DisposeAsync().Within();
        closedAtA.Should().Be(1);
        closedAtB.Should().Be(1);
        (await fixture.NextClosedCircuitAsync()).BytesToTarget.Should().BeGreaterThan(0, "Noise and Yamux ran over the circuit");
    }

    [Fact]
    public async Task RelayedConnection_EndsAtTheDataLimit_TargetStillReadsWhatArrivedThenAnError()
    {
        const int limit = 256 * 1024;
        await using var fixture = RelayFixture.Create(o =>
        {
            o.CircuitDataLimit = limit;
            o.CircuitDurationLimit = TimeSpan.Zero;
        });
        var (b, a, _, atB) = await RelayedPairAsync(fixture);
        var accepted = new TaskCompletionSource<ILibp2pStream>(TaskCreationOptions.RunContinuationsAsynchronously);
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        b.Host.SetStreamHandler(
            "/test/sink/1.0.0",
            async (stream, cancellationToken) =>
            {
                accepted.TrySetResult(stream);
                await done.Task.WaitAsync(cancellationToken); // a test that fails before done is set must not hang the host's disposal
            },
            new StreamHandlerOptions { AllowLimitedConnection = true });
        byte[] payload = RandomBytes(1024 * 1024, 11);

        await using ILibp2pStream sending = await a.Host.OpenStreamAsync(b.Id, "/test/sink/1.0.0", ExistingOnlyAllowLimited).Within();
        Task send = SendUntilFailureAsync(sending.Output, payload);
        ILibp2pStream sink = await accepted.Task.Within();

        // The application reads only after the connection has ended at the limit: all it gets is what was buffered.
        var ended = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using (atB.Closed.Register(() => ended.TrySetResult()))
        {
            await ended.Task.Within();
        }

        (byte[] received, Exception? failure, bool sawCleanEnd) = await sink.Input.ReadUntilFailureAsync();

        sawCleanEnd.Should().BeFalse("the connection failed at the limit: that is no clean end of stream");
        failure.Should().BeAssignableTo<IOException>();
        done.TrySetResult();
        await send.Within();
        received.Should().Equal(payload.AsSpan(0, received.Length).ToArray(), "what arrives is byte-exact, in order");
        received.Length.Should().BeGreaterThan(limit - (96 * 1024), "at most the last, cut Noise frame (64 KiB) and the handshakes are lost");
        (await fixture.NextClosedCircuitAsync()).BytesToTarget.Should().Be(limit);
    }

    [Fact]
    public async Task RelayedConnection_EchoThenGracefulClose_CircuitClosesAsClosed()
        => await EchoThenCloseAsync(async (a, atA) => await a.Host.CloseAsync(atA));

    [Fact]
    public async Task RelayedConnection_EchoThenTheDialersHostStops_CircuitClosesAsClosed()
        => await EchoThenCloseAsync(async (a, _) => await a.Host.DisposeAsync());

    private static async Task EchoThenCloseAsync(Func<TestNode, ConnectionInfo, Task> close)
    {
        await using var fixture = RelayFixture.CreateUnlimited();
        var (b, a, atA, _) = await RelayedPairAsync(fixture);
        b.Host.SetStreamHandler(EchoProtocol, EchoAsync);
        byte[] data = RandomBytes(64 * 1024, 5);
        await using (ILibp2pStream stream = await a.Host.OpenStreamAsync(b.Id, EchoProtocol, ExistingOnly).Within())
        {
            Task<byte[]> echoed = stream.Input.ReadToEndAsync();
            await stream.Output.WriteAllAndCompleteAsync(data);
            (await echoed.Within()).Should().Equal(data);
        }

        await close(a, atA).Within();

        RelayCircuitEventArgs closed = await fixture.NextClosedCircuitAsync();
        closed.Reason.Should().Be(CircuitCloseReason.Closed, "both ends closed in order; nothing was reset");
        fixture.Logs.Collector.GetSnapshot().Should().NotContain(r => r.Message.Contains("Reset", StringComparison.Ordinal) && r.Category!.Contains("RelayServer", StringComparison.Ordinal));
    }

    /// <summary>Writes <paramref name="payload"/> in 16 KiB pieces until a write fails (the relay cut the circuit).</summary>
    private static async Task SendUntilFailureAsync(System.IO.Pipelines.PipeWriter output, byte[] payload)
    {
        try
        {
            await output.WriteAllAndCompleteAsync(payload);
        }
        catch (IOException)
        {
            // Expected: the circuit ended at its data limit.
        }
    }

    /// <summary>
    /// b listens through the relay (its host accepts and upgrades circuits), a dials b's circuit address: returns
    /// both nodes and the relayed connection as each host reports it.
    /// </summary>
    private static async Task<(TestNode B, TestNode A, ConnectionInfo AtA, ConnectionInfo AtB)> RelayedPairAsync(RelayFixture fixture)
    {
        var (b, _) = await fixture.CreateHostListenerAsync();
        TestNode a = fixture.CreateNode();
        Task<ConnectionInfo> inbound = NextConnectionEvent(h => b.Host.ConnectionOpened += h, c => c.IsRelayed);

        ConnectionInfo atA = await a.Host.DialAsync(fixture.CircuitAddressOf(b)).Within();
        ConnectionInfo atB = await inbound.Within();

        atB.RemotePeer.Should().Be(a.Id);
        return (b, a, atA, atB);
    }

    private static void Count(ConnectionEventArgs e, ConnectionInfo which, ref int count)
    {
        if (ReferenceEquals(e.Connection, which))
        {
            Interlocked.Increment(ref count);
        }
    }
}
