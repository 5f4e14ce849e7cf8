namespace CircuitRelay.InMemory;

/// <summary>
/// Keeps the set of still-running background tasks (connection lifetimes, stream pumps, handler
/// invocations) so that disposal can await every one of them.
/// </summary>
internal sealed class TaskTracker
{
    private readonly Lock _sync = new();
    private readonly HashSet<Task> _tasks = [];

    /// <summary>The number of tracked tasks that have not completed.</summary>
    public int Count
    {
        get
        {
            lock (_sync)
            {
                return _tasks.Count;
            }
        }
    }

    /// <summary>Tracks <paramref name="task"/> until it completes.</summary>
    public void Track(Task task)
    {
        lock (_sync)
        {
            _tasks.Add(task);
        }

        task.ContinueWith(
            static (completed, state) => ((TaskTracker)state!).Remove(completed),
            this,
            CancellationToken.None,
            TaskContinuationOptions.ExecuteSynchronously,
            TaskScheduler.Default);
    }

    /// <summary>Completes when every task tracked so far has completed (faults are ignored).</summary>
    public async Task WhenAllAsync()
    {
        Task[] snapshot;
        lock (_sync)
        {
            snapshot = [.. _tasks];
        }

        await Task.WhenAll(snapshot).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
    }

    private void Remove(Task task)
    {
        lock (_sync)
        {
            _tasks.Remove(task);
        }
    }
}
