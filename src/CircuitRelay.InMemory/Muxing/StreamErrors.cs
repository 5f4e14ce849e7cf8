namespace CircuitRelay.InMemory.Muxing;

/// <summary>
/// The exception contract of <see cref="CircuitRelay.Abstractions.ILibp2pStream"/>: reads, writes and flushes fail
/// only with <see cref="IOException"/> or <see cref="OperationCanceledException"/>.
/// </summary>
internal static class StreamErrors
{
    /// <summary>
    /// Whether a pipe's exception breaks the contract: an <see cref="InvalidOperationException"/> (which includes
    /// <see cref="ObjectDisposedException"/>) from a side already completed.
    /// </summary>
    public static bool IsForeign(Exception exception) => exception is InvalidOperationException;

    /// <summary>The <see cref="IOException"/> a caller sees instead, with the original as inner exception.</summary>
    public static IOException Translate(Exception exception) =>
        new($"The stream is no longer usable: {exception.Message}", exception);
}
