namespace CircuitRelay.ReferenceHost.Yamux;

/// <summary>A Yamux stream was reset, by the peer (RST) or locally (abort), or its session ended.</summary>
internal sealed class YamuxStreamResetException : IOException
{
    /// <summary>Creates the exception.</summary>
    public YamuxStreamResetException(string message, Exception? innerException = null)
        : base(message, innerException)
    {
    }

    /// <summary>Creates the exception for a reset the peer sent.</summary>
    public static YamuxStreamResetException ByPeer(uint streamId) => new($"Yamux stream {streamId} was reset by the peer.");

    /// <summary>Creates the exception for a local abort.</summary>
    public static YamuxStreamResetException Local(uint streamId) => new($"Yamux stream {streamId} was aborted.");

    /// <summary>Creates the exception for a stream cut short by the end of its session.</summary>
    public static YamuxStreamResetException SessionEnded(uint streamId, Exception? cause) =>
        new($"Yamux stream {streamId} ended with its session.", cause);
}
