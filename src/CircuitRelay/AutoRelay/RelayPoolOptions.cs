using System.Net;

namespace CircuitRelay.AutoRelay;

/// <summary>Options of <see cref="RelayPool"/>. The score formula and its weights are documented on <see cref="RelayPool"/>.</summary>
public sealed class RelayPoolOptions
{
    /// <summary>Distinct sources an auto-discovered relay needs before it is used (configured relays are trusted). Default 2.</summary>
    public int MinSources { get; set; } = 2;

    /// <summary>
    /// Whether auto-discovered relays reached only at private or loopback addresses may be used (labs, LANs). Default
    /// false. Configured relays are used at whatever address the operator gave.
    /// </summary>
    public bool AllowPrivateAddresses { get; set; }

    /// <summary>
    /// The first backoff after a failure; it doubles with each further failure. Default 1 second, so a relay that
    /// restarted is used again within seconds (the worker wakes when a backoff ends while it is short of relays).
    /// </summary>
    public TimeSpan BackoffBase { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>The longest backoff. Default 1 hour (go-libp2p's autorelay backoff).</summary>
    public TimeSpan BackoffCap { get; set; } = TimeSpan.FromHours(1);

    /// <summary>The half-life of reservation successes and failures in the score. Default 1 hour.</summary>
    public TimeSpan OutcomeHalfLife { get; set; } = TimeSpan.FromHours(1);

    /// <summary>A reservation older than this is rotated to a fresh relay when a candidate exists. Default 12 hours.</summary>
    public TimeSpan MaxReservationAge { get; set; } = TimeSpan.FromHours(12);

    /// <summary>A held relay is rotated when the best candidate's score exceeds its own by this much (0 to 1). Default 0.3.</summary>
    public double RotationMargin { get; set; } = 0.3;

    /// <summary>
    /// A relay whose advert says it already holds this many reservations or more is not chosen (spreads nodes over
    /// relays instead of crowding the most popular one); 0 = no cap. Default 0. A relay whose advert says it is full
    /// (reservations at its capacity) is never chosen.
    /// </summary>
    public int MaxPeersPerRelay { get; set; }

    /// <summary>The seed of every random choice (backoff jitter, ties); the same seed and inputs give the same choices.</summary>
    public int RngSeed { get; set; }

    /// <summary>Maps an IP address to its autonomous system, for one reservation per ASN; <see langword="null"/> to skip that rule. Called under the pool's lock: keep it fast and free of calls back into the pool.</summary>
    public Func<IPAddress, uint?>? AsnResolver { get; set; }

    /// <summary>Throws <see cref="ArgumentException"/> naming the option that is invalid.</summary>
    public void Validate()
    {
        if (MinSources < 1)
        {
            throw new ArgumentException($"MinSources is {MinSources}; it must be at least 1.", nameof(MinSources));
        }

        if (MaxPeersPerRelay < 0)
        {
            throw new ArgumentException($"MaxPeersPerRelay is {MaxPeersPerRelay}; it must be 0 (no cap) or more.", nameof(MaxPeersPerRelay));
        }

        if (BackoffBase <= TimeSpan.Zero || BackoffCap < BackoffBase)
        {
            throw new ArgumentException("BackoffBase must be positive and BackoffCap at least BackoffBase.", BackoffBase <= TimeSpan.Zero ? nameof(BackoffBase) : nameof(BackoffCap));
        }

        if (OutcomeHalfLife <= TimeSpan.Zero || MaxReservationAge <= TimeSpan.Zero)
        {
            throw new ArgumentException("OutcomeHalfLife and MaxReservationAge must be positive.", OutcomeHalfLife <= TimeSpan.Zero ? nameof(OutcomeHalfLife) : nameof(MaxReservationAge));
        }

        if (RotationMargin is < 0 or > 1)
        {
            throw new ArgumentException($"RotationMargin is {RotationMargin}; it must be between 0 and 1.", nameof(RotationMargin));
        }
    }
}
