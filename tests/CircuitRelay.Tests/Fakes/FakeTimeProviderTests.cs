using Microsoft.Extensions.Time.Testing;

namespace CircuitRelay.Tests.Fakes;

/// <summary>
/// Pins down how Microsoft's <see cref="FakeTimeProvider"/> (the base of the tests' <see cref="ManualTimeProvider"/>)
/// fires timers, where it differs from a real timer or from the hand-written clock it replaced: a timer due at once
/// fires synchronously on the caller's thread (a real timer, and the old clock, queue it to the thread pool), and
/// <see cref="FakeTimeProvider.Advance"/> moves the clock to its target before firing, so every callback of one
/// Advance reads the target time (the old clock stopped at each due time). No test of the suites creates or changes
/// a timer with a due time of zero, and none reads the clock inside a timer callback fired by a long Advance.
/// </summary>
public sealed class FakeTimeProviderTests
{
    private static readonly DateTimeOffset Start = new(2030, 1, 1, 0, 0, 0, TimeSpan.Zero);

    [Fact]
    public void CreateTimer_DueTimeZero_FiresOnTheCallingThreadBeforeReturning()
    {
        var time = new FakeTimeProvider(Start);
        int thread = -1;
        int fired = 0;

        using ITimer timer = time.CreateTimer(_ =>
        {
            thread = Environment.CurrentManagedThreadId;
            fired++;
        }, null, TimeSpan.Zero, Timeout.InfiniteTimeSpan);

        fired.Should().Be(1);
        thread.Should().Be(Environment.CurrentManagedThreadId);
    }

    [Fact]
    public void Change_DueTimeZero_FiresOnTheCallingThreadBeforeReturning()
    {
        var time = new FakeTimeProvider(Start);
        int thread = -1;
        int fired = 0;
        using ITimer timer = time.CreateTimer(_ =>
        {
            thread = Environment.CurrentManagedThreadId;
            fired++;
        }, null, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);

        timer.Change(TimeSpan.Zero, Timeout.InfiniteTimeSpan).Should().BeTrue();

        fired.Should().Be(1);
        thread.Should().Be(Environment.CurrentManagedThreadId);
    }

    [Fact]
    public void CreateTimer_DueTimeZeroWithPeriod_FiresAtOnceThenOncePerPeriod()
    {
        var time = new FakeTimeProvider(Start);
        int fired = 0;
        using ITimer timer = time.CreateTimer(_ => fired++, null, TimeSpan.Zero, TimeSpan.FromSeconds(1));
        fired.Should().Be(1);

        time.Advance(TimeSpan.FromSeconds(1));

        fired.Should().Be(2);
    }

    [Fact]
    public void Advance_PastThreePeriods_FiresOncePerPeriodWithTheClockAtTheTarget()
    {
        var time = new FakeTimeProvider(Start);
        var seen = new List<DateTimeOffset>();
        using ITimer timer = time.CreateTimer(_ => seen.Add(time.GetUtcNow()), null, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(1));

        time.Advance(TimeSpan.FromSeconds(3.5));

        seen.Should().Equal(Enumerable.Repeat(Start + TimeSpan.FromSeconds(3.5), 3));
    }

    [Fact]
    public void Advance_PastAPeriodTimer_KeepsItsPhase()
    {
        var time = new FakeTimeProvider(Start);
        int fired = 0;
        using ITimer timer = time.CreateTimer(_ => fired++, null, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(1));
        time.Advance(TimeSpan.FromSeconds(1.5));

        time.Advance(TimeSpan.FromSeconds(0.5));

        fired.Should().Be(2, "the next tick is due at 2 s, not 1 s after the Advance that fired the first");
    }

    [Fact]
    public void Advance_PastSeveralDueTimes_FiresEachOnceInDueOrder()
    {
        var time = new FakeTimeProvider(Start);
        var order = new List<int>();
        using ITimer third = time.CreateTimer(_ => order.Add(3), null, TimeSpan.FromSeconds(3), Timeout.InfiniteTimeSpan);
        using ITimer first = time.CreateTimer(_ => order.Add(1), null, TimeSpan.FromSeconds(1), Timeout.InfiniteTimeSpan);
        using ITimer second = time.CreateTimer(_ => order.Add(2), null, TimeSpan.FromSeconds(2), Timeout.InfiniteTimeSpan);

        time.Advance(TimeSpan.FromSeconds(5));

        order.Should().Equal(1, 2, 3);
    }

    [Fact]
    public void Advance_PastSeveralDueTimes_EveryCallbackReadsTheTargetTime()
    {
        var time = new FakeTimeProvider(Start);
        var seen = new List<DateTimeOffset>();
        using ITimer first = time.CreateTimer(_ => seen.Add(time.GetUtcNow()), null, TimeSpan.FromSeconds(1), Timeout.InfiniteTimeSpan);
        using ITimer second = time.CreateTimer(_ => seen.Add(time.GetUtcNow()), null, TimeSpan.FromSeconds(2), Timeout.InfiniteTimeSpan);

        time.Advance(TimeSpan.FromSeconds(5));

        seen.Should().Equal(Start + TimeSpan.FromSeconds(5), Start + TimeSpan.FromSeconds(5));
    }

    [Fact]
    public void Advance_SameDueTime_FiresInTheOrderTheTimersWereArmed()
    {
        var time = new FakeTimeProvider(Start);
        var order = new List<string>();
        using ITimer a = time.CreateTimer(_ => order.Add("a"), null, TimeSpan.FromSeconds(1), Timeout.InfiniteTimeSpan);
        using ITimer b = time.CreateTimer(_ => order.Add("b"), null, TimeSpan.FromSeconds(1), Timeout.InfiniteTimeSpan);

        time.Advance(TimeSpan.FromSeconds(1));

        order.Should().Equal("a", "b");
    }

    [Fact]
    public void Advance_ToJustBeforeTheDueTime_DoesNotFire()
    {
        var time = new FakeTimeProvider(Start);
        int fired = 0;
        using ITimer timer = time.CreateTimer(_ => fired++, null, TimeSpan.FromSeconds(1), Timeout.InfiniteTimeSpan);

        time.Advance(TimeSpan.FromSeconds(1) - TimeSpan.FromTicks(1));

        fired.Should().Be(0);
    }

    [Fact]
    public void Change_FromInsideTheCallback_RearmsFromTheTimeTheCallbackRan()
    {
        var time = new FakeTimeProvider(Start);
        var seen = new List<DateTimeOffset>();
        ITimer? timer = null;
        timer = time.CreateTimer(_ =>
        {
            seen.Add(time.GetUtcNow());
            timer!.Change(TimeSpan.FromSeconds(10), Timeout.InfiniteTimeSpan);
        }, null, TimeSpan.FromSeconds(1), Timeout.InfiniteTimeSpan);
        using ITimer owned = timer;

        time.Advance(TimeSpan.FromSeconds(1));
        time.Advance(TimeSpan.FromSeconds(10) - TimeSpan.FromTicks(1));
        seen.Should().HaveCount(1);
        time.Advance(TimeSpan.FromTicks(1));

        seen.Should().Equal(Start + TimeSpan.FromSeconds(1), Start + TimeSpan.FromSeconds(11));
    }

    [Fact]
    public void Change_FromInsideTheCallbackOfALongAdvance_CountsFromTheTarget()
    {
        var time = new FakeTimeProvider(Start);
        int fired = 0;
        ITimer? timer = null;
        timer = time.CreateTimer(_ =>
        {
            fired++;
            timer!.Change(TimeSpan.FromSeconds(10), Timeout.InfiniteTimeSpan);
        }, null, TimeSpan.FromSeconds(1), Timeout.InfiniteTimeSpan);
        using ITimer owned = timer;

        time.Advance(TimeSpan.FromSeconds(25));

        fired.Should().Be(1, "the re-armed timer is due 10 s after 25 s, where the clock already was (the old clock fired at 1, 11 and 21 s)");
    }

    [Fact]
    public void Dispose_BeforeTheDueTime_NeverFires()
    {
        var time = new FakeTimeProvider(Start);
        int fired = 0;
        ITimer timer = time.CreateTimer(_ => fired++, null, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(1));

        timer.Dispose();
        time.Advance(TimeSpan.FromSeconds(5));

        fired.Should().Be(0);
        timer.Change(TimeSpan.Zero, Timeout.InfiniteTimeSpan).Should().BeFalse();
    }

    [Fact]
    public async Task Delay_OnTheFakeClock_CompletesOnlyWhenAdvancedPastIt()
    {
        var time = new FakeTimeProvider(Start);
        Task delay = Task.Delay(TimeSpan.FromSeconds(1), time);

        time.Advance(TimeSpan.FromMilliseconds(999));
        delay.IsCompleted.Should().BeFalse();
        time.Advance(TimeSpan.FromMilliseconds(1));

        await delay.Within();
    }
}
