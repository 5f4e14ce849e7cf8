namespace CircuitRelay.AutoNat;

/// <summary>Options of <see cref="AutoNatServer"/>; defaults follow go-libp2p's AutoNAT v1 service (digest 2.1).</summary>
public sealed class AutoNatServerOptions
{
    /// <summary>The most addresses dialed per request (after the observed one). Default 16.</summary>
    public int MaxAddresses { get; set; } = 16;

    /// <summary>Requests one peer may make per throttle period. Default 3.</summary>
    public int MaxRequestsPerPeer { get; set; } = 3;

    /// <summary>Requests served in all per throttle period. Default 30.</summary>
    public int MaxRequestsGlobal { get; set; } = 30;

    /// <summary>The throttle period; each period lasts this plus up to <see cref="ThrottleJitter"/>. Default 1 minute.</summary>
    public TimeSpan ThrottlePeriod { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>The most jitter added to a throttle period (from <see cref="RngSeed"/>). Default 15 seconds.</summary>
    public TimeSpan ThrottleJitter { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>Deadline of the dial-backs. A failed request is answered only once it has passed, so the server cannot be used to scan ports. Default 15 seconds.</summary>
    public TimeSpan DialTimeout { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>Deadline for reading the request. Default 60 seconds.</summary>
    public TimeSpan StreamTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>Whether private and loopback addresses (and requesters seen at one) are served: labs and LANs only. Default false.</summary>
    public bool AllowPrivate { get; set; }

    /// <summary>The seed of the throttle jitter.</summary>
    public int RngSeed { get; set; }

    /// <summary>Throws <see cref="ArgumentException"/> naming the option that is invalid.</summary>
    public void Validate()
    {
        if (MaxAddresses < 1 || MaxRequestsPerPeer < 1 || MaxRequestsGlobal < 1)
        {
            throw new ArgumentException("MaxAddresses, MaxRequestsPerPeer and MaxRequestsGlobal must be at least 1.", MaxAddresses < 1 ? nameof(MaxAddresses) : MaxRequestsPerPeer < 1 ? nameof(MaxRequestsPerPeer) : nameof(MaxRequestsGlobal));
        }

        if (ThrottlePeriod <= TimeSpan.Zero || ThrottleJitter < TimeSpan.Zero || DialTimeout <= TimeSpan.Zero || StreamTimeout <= TimeSpan.Zero)
        {
            throw new ArgumentException("ThrottlePeriod, DialTimeout and StreamTimeout must be positive and ThrottleJitter not negative.", nameof(ThrottlePeriod));
        }
    }
}
