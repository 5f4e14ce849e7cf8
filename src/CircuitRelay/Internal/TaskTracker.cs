namespace CircuitRelay.Internal;

/// <summary>
/// Tracks background tasks (stream handlers) so an owner can refuse new work once closing and wait for
/// the running ones on disposal.
/// </summary>
internal sealed class TaskTracker
{
    private readonly Lock _lock = new();
    private readonly HashSet<Task> _running = [];
    private bool _closed;

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

        _ = task.ContinueWith(
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
        return task;
    }

    /// <summary>Refuses new work and waits for the running tasks (their failures are not rethrown).</summary>
    public async Task CloseAsync()
    {
        Task[] running;
        lock (_lock)
        {
            _closed = true;
            running = [.. _running];
        }

        await Task.WhenAll(running).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
    }
}
