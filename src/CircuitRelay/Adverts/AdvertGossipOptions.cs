namespace CircuitRelay.Adverts;

/// <summary>Options of <see cref="AdvertGossipService"/>.</summary>
public sealed class AdvertGossipOptions
{
    /// <summary>This node's own sealed advert (a relay's), sent first to every peer; <see langword="null"/> for none.</summary>
    public Func<ReadOnlyMemory<byte>?>? LocalAdvert { get; set; }

    /// <summary>The most adverts sent to one peer per push or pull answer (the best-known relays first). Default 32.</summary>
    public int MaxAdvertsPerPush { get; set; } = 32;

    /// <summary>The most adverts accepted from one peer per minute; the rest of its stream is dropped. Default 120.</summary>
    public int MaxAdvertsPerMinutePerPeer { get; set; } = 120;

    /// <summary>How long a peer that sent garbage (undecodable, oversized, forged) is dropped from gossip. Default 10 minutes.</summary>
    public TimeSpan BanDuration { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>Deadline for a whole gossip exchange on one stream. Default 10 seconds.</summary>
    public TimeSpan StreamTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Throws <see cref="ArgumentException"/> naming the option that is invalid.</summary>
    public void Validate()
    {
        if (MaxAdvertsPerPush < 1)
        {
            throw new ArgumentException($"MaxAdvertsPerPush is {MaxAdvertsPerPush}; it must be at least 1.", nameof(MaxAdvertsPerPush));
        }

        if (MaxAdvertsPerMinutePerPeer < 1)
        {
            throw new ArgumentException($"MaxAdvertsPerMinutePerPeer is {MaxAdvertsPerMinutePerPeer}; it must be at least 1.", nameof(MaxAdvertsPerMinutePerPeer));
        }

        if (BanDuration <= TimeSpan.Zero || StreamTimeout <= TimeSpan.Zero)
        {
            throw new ArgumentException("BanDuration and StreamTimeout must be positive.", BanDuration <= TimeSpan.Zero ? nameof(BanDuration) : nameof(StreamTimeout));
        }
    }
}
