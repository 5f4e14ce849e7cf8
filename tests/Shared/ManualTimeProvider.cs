using Microsoft.Extensions.Time.Testing;

namespace CircuitRelay.Testing;

/// <summary>
/// The tests' clock: Microsoft's <see cref="FakeTimeProvider"/> starting at 2030-01-01 UTC, plus a count of the timers
/// created on it, so a test can wait until the code under test has armed its timers (for example a bandwidth limiter
/// waiting for refill) instead of sleeping.
/// </summary>
/// <remarks>
/// What <see cref="FakeTimeProvider"/> does with timers (pinned by ManualTimeProviderTests): a timer created or changed
/// with a due time of zero fires at once, synchronously, on the thread that called CreateTimer or Change (before the
/// call returns); <see cref="FakeTimeProvider.Advance"/> fires every timer that falls due, in due order, on the
/// advancing thread, a period timer once per period passed.
/// </remarks>
public sealed class ManualTimeProvider : FakeTimeProvider
{
    /// <summary>Where the tests' clock starts unless told otherwise.</summary>
    public static readonly DateTimeOffset DefaultStart = new(2030, 1, 1, 0, 0, 0, TimeSpan.Zero);

    private readonly Lock _lock = new();
    private TaskCompletionSource _created = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _timersCreated;

    public ManualTimeProvider(DateTimeOffset? start = null)
        : base(start ?? DefaultStart)
    {
    }

    /// <summary>Timers created so far (monotonic: a blocked waiter creates one each time it blocks).</summary>
    public int TimersCreated => Volatile.Read(ref _timersCreated);

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        // Counted once armed: a test that saw the count may advance the clock past the timer's due time.
        ITimer timer = base.CreateTimer(callback, state, dueTime, period);
        TaskCompletionSource created;
        lock (_lock)
        {
            _timersCreated++;
            created = _created;
            _created = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }

        created.TrySetResult();
        return timer;
    }

    /// <summary>Waits until at least <paramref name="count"/> timers have been created in total.</summary>
    public async Task WaitForTimersCreatedAsync(int count, TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? Bounded.Timeout);
        while (true)
        {
            Task created;
            lock (_lock)
            {
                if (_timersCreated >= count)
                {
                    return;
                }

                created = _created.Task;
            }

            await created.WaitAsync(cts.Token);
        }
    }
}
