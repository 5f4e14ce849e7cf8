namespace CircuitRelay.Interop.Tests.Harness;

/// <summary>A peer process did not do what the test waited for; the message carries its output.</summary>
internal sealed class PeerProcessException : Exception
{
    /// <summary>Creates the exception with a message that already includes the peer's output.</summary>
    public PeerProcessException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and the cause.</summary>
    public PeerProcessException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Creates the exception with no message.</summary>
    public PeerProcessException()
    {
    }
}
