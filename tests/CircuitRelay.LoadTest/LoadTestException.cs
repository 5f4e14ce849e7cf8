namespace CircuitRelay.LoadTest;

/// <summary>A step of the load test failed; the message says which and why.</summary>
internal sealed class LoadTestException : Exception
{
    public LoadTestException(string message)
        : base(message)
    {
    }

    public LoadTestException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
