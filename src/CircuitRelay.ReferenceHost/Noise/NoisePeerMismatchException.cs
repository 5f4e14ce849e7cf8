namespace CircuitRelay.ReferenceHost.Noise;

/// <summary>
/// The peer authenticated itself in the Noise handshake, but as a different peer than the one dialed.
/// </summary>
internal sealed class NoisePeerMismatchException : IOException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="expected">The peer id that was dialed.</param>
    /// <param name="actual">The peer id the remote proved.</param>
    public NoisePeerMismatchException(PeerId expected, PeerId actual)
        : base($"The Noise handshake authenticated the remote as {actual}, but {expected} was dialed.")
    {
        Expected = expected;
        Actual = actual;
    }

    /// <summary>The peer id that was dialed.</summary>
    public PeerId Expected { get; }

    /// <summary>The peer id the remote proved.</summary>
    public PeerId Actual { get; }
}
