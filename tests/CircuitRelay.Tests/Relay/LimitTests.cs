using System.Buffers;
using System.IO.Pipelines;
using CircuitRelay.Server;
using CircuitRelay.Tests.Infrastructure;
using CircuitRelay.Transport;

namespace CircuitRelay.Tests.Relay;

public sealed class LimitTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(4095)]
    [InlineData(4096)]
    [InlineData(4097)]
    [InlineData(1024 * 1024)]
    public async Task DataLimit_SourceSendsMore_TargetGetsExactlyNThenEnd(int limit)
    {
        await using var fixture = RelayFixture.Create(o =>
        {
            o.CircuitDataLimit = limit;
            o.CircuitDurationLimit = TimeSpan.Zero;
        });
        var (target, listener) = await fixture.CreateListenerAsync();
        var (dialer, accepted) = await fixture.ConnectAsync(fixture.CreateNode(), target, listener);
        dialer.Limit.Should().Be(new RelayLimit(TimeSpan.Zero, (ulong)limit));
        accepted.Limit.Should().Be(new RelayLimit(TimeSpan.Zero, (ulong)limit));
        byte[] payload = PipeTesting.RandomBytes(limit + 1000, limit);

        Task send = SendIgnoringResetAsync(dialer, payload);
        (byte[] received, _) = await accepted.Input.ReadUntilEndOrResetAsync().Within();
        await send.Within();

        received.Should().HaveCount(limit);
        received.Should().Equal(payload.AsSpan(0, limit).ToArray());
        (await dialer.Input.ReadUntilEndOrResetAsync().Within()).Reset.Should().BeTrue("the relay resets the sender that exceeded the limit");
        RelayCircuitEventArgs closed = await fixture.NextClosedCircuitAsync();
        closed.Reason.Should().Be(CircuitCloseReason.DataLimitExceeded);
        closed.BytesToTarget.Should().Be(limit);
        fixture.Server.GetStatistics().ActiveCircuits.Should().Be(0);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(4096)]
    [InlineData(4097)]
    public async Task DataLimit_TargetSendsMore_SourceGetsExactlyN(int limit)
    {
        await using var fixture = RelayFixture.Create(o =>
        {
            o.CircuitDataLimit = limit;
            o.CircuitDurationLimit = TimeSpan.Zero;
        });
        var (target, listener) = await fixture.CreateListenerAsync();
        var (dialer, accepted) = await fixture.ConnectAsync(fixture.CreateNode(), target, listener);
        byte[] payload = PipeTesting.RandomBytes(limit * 2, limit);

        Task send = SendIgnoringResetAsync(accepted, payload);
        (byte[] received, _) = await dialer.Input.ReadUntilEndOrResetAsync().Within();
        await send.Within();

        received.Should().Equal(payload.AsSpan(0, limit).ToArray());
        (await fixture.NextClosedCircuitAsync()).Reason.Should().Be(CircuitCloseReason.DataLimitExceeded);
    }

    [Fact]
    public async Task DataLimit_IsPerDirection_BothSidesSendExactlyN()
    {
        const int limit = 4096;
        await using var fixture = RelayFixture.Create(o =>
        {
            o.CircuitDataLimit = limit;
            o.CircuitDurationLimit = TimeSpan.Zero;
        });
        var (target, listener) = await fixture.CreateListenerAsync();
        var (dialer, accepted) = await fixture.ConnectAsync(fixture.CreateNode(), target, listener);
        byte[] up = PipeTesting.RandomBytes(limit, 1);
        byte[] down = PipeTesting.RandomBytes(limit, 2);

        // 2N bytes cross the circuit in total: one shared budget would cut this off.
        await Task.WhenAll(dialer.Output.WriteAllAsync(up), accepted.Output.WriteAllAsync(down)).Within();
        byte[] gotUp = await accepted.Input.ReadToEndAsync().Within();
        byte[] gotDown = await dialer.Input.ReadToEndAsync().Within();

        gotUp.Should().Equal(up);
        gotDown.Should().Equal(down);
        RelayCircuitEventArgs closed = await fixture.NextClosedCircuitAsync();
        closed.Reason.Should().Be(CircuitCloseReason.Closed);
        closed.BytesToTarget.Should().Be(limit);
        closed.BytesToSource.Should().Be(limit);
    }

    [Fact]
    public async Task DurationLimit_Elapses_ResetsBothSides()
    {
        await using var fixture = RelayFixture.Create(o =>
        {
            o.CircuitDataLimit = 0;
            o.CircuitDurationLimit = TimeSpan.FromSeconds(30);
        });
        var (target, listener) = await fixture.CreateListenerAsync();
        var (dialer, accepted) = await fixture.ConnectAsync(fixture.CreateNode(), target, listener);
        dialer.Limit.Should().Be(new RelayLimit(TimeSpan.FromSeconds(30), 0));
        await dialer.Output.WriteAllAsync("ping"u8.ToArray(), complete: false).Within();

        // The ping reaching the target proves the splice runs, so its duration timer exists before the clock moves
        // (the relay starts the splice after answering OK: advancing earlier would arm the timer 30 s too late).
        ReadResult ping = await accepted.Input.ReadAtLeastAsync(4).Within();
        ping.Buffer.ToArray().Should().Equal("ping"u8.ToArray());
        accepted.Input.AdvanceTo(ping.Buffer.End);
        Task<(byte[] Bytes, bool Reset)> targetRead = accepted.Input.ReadUntilEndOrResetAsync();
        Task<(byte[] Bytes, bool Reset)> sourceRead = dialer.Input.ReadUntilEndOrResetAsync();
        var countedWhenClosed = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        fixture.Server.CircuitClosed += (_, _) => countedWhenClosed.TrySetResult(fixture.Server.GetStatistics().ActiveCircuits);

        fixture.Time.Advance(TimeSpan.FromSeconds(29));
        targetRead.IsCompleted.Should().BeFalse();
        fixture.Time.Advance(TimeSpan.FromSeconds(1));

        (await targetRead.Within()).Reset.Should().BeTrue();
        (await sourceRead.Within()).Reset.Should().BeTrue();
        RelayCircuitEventArgs closed = await fixture.NextClosedCircuitAsync();
        closed.Reason.Should().Be(CircuitCloseReason.DurationLimitExceeded);
        closed.Duration.Should().Be(TimeSpan.FromSeconds(30));
        (await countedWhenClosed.Task.Within()).Should().Be(0, "a closed circuit no longer counts when CircuitClosed is raised");
    }

    [Fact]
    public async Task PeerBandwidthCap_AcrossCircuits_RelaysNoMoreThanTheBudget()
    {
        const int rate = 64 * 1024;
        await using var fixture = RelayFixture.CreateUnlimited(o =>
        {
            o.MaxBandwidthPerPeer = rate;
            o.BufferSize = 16 * 1024;
        });
        var (target1, listener1) = await fixture.CreateListenerAsync();
        var (target2, listener2) = await fixture.CreateListenerAsync();
        TestNode source = fixture.CreateNode();
        var (dialer1, accepted1) = await fixture.ConnectAsync(source, target1, listener1);
        var (dialer2, accepted2) = await fixture.ConnectAsync(source, target2, listener2);
        await Task.WhenAll(fixture.IdentifiedWithRelayAsync(source), fixture.IdentifiedWithRelayAsync(target1), fixture.IdentifiedWithRelayAsync(target2)).Within(); // Identify's timers are armed by now
        int created = fixture.Time.TimersCreated;
        Task read1 = accepted1.Input.ReadToEndAsync();
        Task read2 = accepted2.Input.ReadToEndAsync();

        Task send1 = dialer1.Output.WriteAllAsync(new byte[256 * 1024]);
        Task send2 = dialer2.Output.WriteAllAsync(new byte[256 * 1024]);

        // Both circuits end up waiting on the shared bucket: exactly one burst went through.
        // (A token bucket never lets more than burst + rate * t through; each waiting circuit holds back at most one
        // chunk. A pump that blocks on the bucket creates one delay timer, and blocks at most once per clock step.)
        await fixture.Time.WaitForTimersCreatedAsync(created + 2);
        fixture.Server.GetStatistics().BytesToTarget.Should().BeInRange(rate - (2 * 16 * 1024), rate);

        created = fixture.Time.TimersCreated;
        fixture.Time.Advance(TimeSpan.FromSeconds(1));
        await fixture.Time.WaitForTimersCreatedAsync(created + 2);
        fixture.Server.GetStatistics().BytesToTarget.Should().BeInRange((2 * rate) - (2 * 16 * 1024), 2 * rate);

        // Lifting the cap at run time releases the live circuits.
        fixture.Server.UpdateOptions(new RelayServerOptions { CircuitDataLimit = 0, CircuitDurationLimit = TimeSpan.Zero });
        fixture.Time.Advance(TimeSpan.FromSeconds(1));
        await Task.WhenAll(send1, send2, read1, read2).Within();
        fixture.Server.GetStatistics().BytesToTarget.Should().Be(512 * 1024);
    }

    private static async Task SendIgnoringResetAsync(RelayedConnection connection, byte[] payload)
    {
        try
        {
            await connection.Output.WriteAllAsync(payload, complete: false, chunk: 1000);
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException)
        {
            // The relay resets the sender once it exceeds the limit.
        }
    }
}
