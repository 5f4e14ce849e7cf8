namespace CircuitRelay.Internal;

/// <summary>
/// Tracks background tasks (stream handlers, pumps, connection lifetimes) behind a close gate: an owner starts
/// work through it while open, and on disposal closes it (no new work) and waits for what runs.
/// </summary>
/// <remarks>
/// One tracker for every package (linked from <c>src/Shared</c>). The guarantees: a task started or tracked
/// before <see cref="CloseAsync"/> is awaited by it; after it, <see cref="TryRun"/> starts nothing and
/// <see cref="TryTrack"/> refuses, so the caller decides what to do with work that arrives late. Faults of
/// tracked tasks are never rethrown: each task observes its own failures.
/// </remarks>
internal sealed class TaskTracker
{
    private readonly Lock _lock = new();
    private readonly HashSet<Task> _running = [];
    private bool _closed;

    /// <summary>The tracked tasks that have not completed.</summary>
    public int Count
    {
        get
        {
            lock (_lock)
            {
                return _running.Count;
            }
        }
    }

    /// <summary>Whether <see cref="CloseAsync"/> was called.</summary>
    public bool IsClosed
    {
        get
        {
            lock (_lock)
            {
                return _closed;
            }
        }
    }

    /// <summary>Starts <paramref name="start"/> and tracks its task; returns null (without starting) once closed.</summary>
    public Task? TryRun(Func<Task> start)
    {
        Task task;
        lock (_lock)
        {
            if (_closed)
            {
                return null;
            }

            task = start();
            if (task.IsCompleted)
            {
                return task;
            }

            _running.Add(task);
        }

        Forget(task);
        return task;
    }

    /// <summary>Tracks a task that is already running; returns false (not tracked) once closed.</summary>
    public bool TryTrack(Task task)
    {
        lock (_lock)
        {
            if (_closed)
            {
                return false;
            }

            if (task.IsCompleted)
            {
                return true;
            }

            _running.Add(task);
        }

        Forget(task);
        return true;
    }

    /// <summary>Waits for the tasks tracked so far, without closing (their failures are not rethrown).</summary>
    public async Task WhenAllAsync()
    {
        Task[] running;
        lock (_lock)
        {
            running = [.. _running];
        }

        await Task.WhenAll(running).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
    }

    /// <summary>Refuses new work and waits for the running tasks (their failures are not rethrown).</summary>
    public Task CloseAsync()
    {
        lock (_lock)
        {
            _closed = true;
        }

        return WhenAllAsync();
    }

    private void Forget(Task task) => _ = task.ContinueWith(
        static (t, state) =>
        {
            var self = (TaskTracker)state!;
            lock (self._lock)
            {
                self._running.Remove(t);
            }
        },
        this,
        CancellationToken.None,
        TaskContinuationOptions.ExecuteSynchronously,
        TaskScheduler.Default);
}
