namespace CircuitRelay.Tests.Fakes;

/// <summary>What <see cref="ManualTimeProvider"/> adds to FakeTimeProvider: the tests' start time and timer counting.</summary>
public sealed class ManualTimeProviderTests
{
    [Fact]
    public void Constructor_NoStart_StartsAt2030Utc()
    {
        var time = new ManualTimeProvider();

        time.GetUtcNow().Should().Be(new DateTimeOffset(2030, 1, 1, 0, 0, 0, TimeSpan.Zero));
        time.Start.Should().Be(ManualTimeProvider.DefaultStart);
    }

    [Fact]
    public void Constructor_GivenStart_StartsThere()
    {
        var start = new DateTimeOffset(2031, 6, 1, 12, 0, 0, TimeSpan.Zero);

        new ManualTimeProvider(start).GetUtcNow().Should().Be(start);
    }

    [Fact]
    public void TimersCreated_CountsEveryTimerIncludingDisposedOnes()
    {
        var time = new ManualTimeProvider();
        time.CreateTimer(_ => { }, null, TimeSpan.FromSeconds(1), Timeout.InfiniteTimeSpan).Dispose();
        using ITimer armed = time.CreateTimer(_ => { }, null, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);

        time.TimersCreated.Should().Be(2);
    }

    [Fact]
    public void CreateTimer_DueTimeZero_FiresAtOnceLikeTheBase()
    {
        var time = new ManualTimeProvider();
        int fired = 0;

        using ITimer timer = time.CreateTimer(_ => fired++, null, TimeSpan.Zero, Timeout.InfiniteTimeSpan);

        fired.Should().Be(1);
        time.TimersCreated.Should().Be(1);
    }

    [Fact]
    public async Task WaitForTimersCreatedAsync_DelayStartedElsewhere_CompletesOnceItsTimerIsArmed()
    {
        var time = new ManualTimeProvider();
        Task waiting = time.WaitForTimersCreatedAsync(1);
        waiting.IsCompleted.Should().BeFalse();

        Task delay = Task.Run(() => Task.Delay(TimeSpan.FromSeconds(1), time));
        await waiting.Within();

        // Counted after arming: advancing now cannot miss the timer.
        time.Advance(TimeSpan.FromSeconds(1));
        await delay.Within();
    }

    [Fact]
    public async Task WaitForTimersCreatedAsync_AlreadyReached_CompletesAtOnce()
    {
        var time = new ManualTimeProvider();
        using ITimer timer = time.CreateTimer(_ => { }, null, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);

        Task waiting = time.WaitForTimersCreatedAsync(1);

        waiting.IsCompleted.Should().BeTrue();
        await waiting.Within();
    }

    [Fact]
    public async Task WaitForTimersCreatedAsync_NeverReached_TimesOut()
    {
        var time = new ManualTimeProvider();

        await FluentActions.Awaiting(() => time.WaitForTimersCreatedAsync(1, TimeSpan.FromMilliseconds(50)).Within())
            .Should().ThrowAsync<OperationCanceledException>();
    }
}
