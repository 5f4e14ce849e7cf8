namespace CircuitRelay.ReferenceHost.Tests.TestSupport;

/// <summary>Every await in the tests is bounded by this generous timeout.</summary>
internal static class TestTimeout
{
    public static readonly TimeSpan Value = TimeSpan.FromSeconds(30);

    public static Task WithTimeout(this Task task) => task.WaitAsync(Value);

    public static Task<T> WithTimeout<T>(this Task<T> task) => task.WaitAsync(Value);

    public static Task WithTimeout(this ValueTask task) => task.AsTask().WaitAsync(Value);

    public static Task<T> WithTimeout<T>(this ValueTask<T> task) => task.AsTask().WaitAsync(Value);
}
