namespace CircuitRelay.Adverts;

/// <summary>
/// An advert opened from its signed envelope (<see cref="RelayAdvert.Open"/>): the verified content and the envelope
/// exactly as the relay sealed it, which is what gossip forwards, so the original signature travels with it.
/// </summary>
public sealed class SignedRelayAdvert
{
    private readonly byte[] _envelope;

    internal SignedRelayAdvert(RelayAdvert advert, byte[] envelope)
    {
        Advert = advert;
        _envelope = envelope;
    }

    /// <summary>The verified advert.</summary>
    public RelayAdvert Advert { get; }

    /// <summary>The serialized signed envelope, unchanged.</summary>
    public ReadOnlyMemory<byte> Envelope => _envelope;

    /// <summary>Whether this advert was issued after <paramref name="other"/> (the newest valid advert of a relay wins).</summary>
    public bool IsNewerThan(SignedRelayAdvert other)
    {
        ArgumentNullException.ThrowIfNull(other);
        return Advert.IssuedAt > other.Advert.IssuedAt;
    }
}
