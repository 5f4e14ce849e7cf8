namespace CircuitRelay.ReferenceHost.Yamux;

/// <summary>
/// The <c>ILibp2pStream</c> exception contract for a stream's own reader and writer: what a completed or released
/// pipe throws (<see cref="InvalidOperationException"/>, <see cref="ObjectDisposedException"/> is one) becomes an
/// <see cref="IOException"/> with the original as inner exception; resets and cancellation pass unchanged.
/// </summary>
internal static class StreamBoundary
{
    /// <summary>Whether <paramref name="exception"/> breaks the contract and must be translated.</summary>
    public static bool IsForeign(Exception exception) => exception is InvalidOperationException;

    public static IOException Translate(Exception exception) =>
        new($"The stream is no longer usable: {exception.Message}", exception);
}
