using CircuitRelay.Adverts;

namespace CircuitRelay.AutoNat;

/// <summary>Options of <see cref="AutoNatService"/>; defaults follow go-libp2p's AutoNAT v1 client (digest 2.1).</summary>
public sealed class AutoNatServiceOptions
{
    /// <summary>Agreeing results from distinct networks needed to change the reachability. Default 3.</summary>
    public int Confidence { get; set; } = 3;

    /// <summary>A role that overrides AutoNAT (<see cref="NodeRole.Unknown"/> = let AutoNAT decide). Default unknown.</summary>
    public NodeRole ForcedRole { get; set; }

    /// <summary>How long after start the first probe waits. Default 15 seconds.</summary>
    public TimeSpan BootDelay { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>Between probes while the reachability is unknown or a run toward a change is building. Default 90 seconds.</summary>
    public TimeSpan RetryInterval { get; set; } = TimeSpan.FromSeconds(90);

    /// <summary>Between probes once the reachability is settled. Default 15 minutes.</summary>
    public TimeSpan RefreshInterval { get; set; } = TimeSpan.FromMinutes(15);

    /// <summary>A server is not asked again sooner than this. Default 15 minutes.</summary>
    public TimeSpan ServerCooldown { get; set; } = TimeSpan.FromMinutes(15);

    /// <summary>
    /// Whether servers that speak AutoNAT v2 are asked with it (one address per probe, tracked per address); others
    /// are asked with v1. Default true.
    /// </summary>
    public bool EnableV2 { get; set; } = true;

    /// <summary>
    /// Whether addresses AutoNAT v2 finds public are added to the host's external addresses (and removed when they turn
    /// private), so Identify and the relay advert announce them. Default true.
    /// </summary>
    public bool ConfirmAddresses { get; set; } = true;

    /// <summary>Whether private and loopback addresses are asked about with v2 (the spec says not to): labs and LANs only. Default false.</summary>
    public bool IncludePrivateAddresses { get; set; }

    /// <summary>The seed of the choice of server.</summary>
    public int RngSeed { get; set; }

    /// <summary>Throws <see cref="ArgumentException"/> naming the option that is invalid.</summary>
    public void Validate()
    {
        if (Confidence < 1)
        {
            throw new ArgumentException($"Confidence is {Confidence}; it must be at least 1.", nameof(Confidence));
        }

        if (BootDelay < TimeSpan.Zero || RetryInterval <= TimeSpan.Zero || RefreshInterval <= TimeSpan.Zero || ServerCooldown < TimeSpan.Zero)
        {
            throw new ArgumentException("BootDelay and ServerCooldown must not be negative, RetryInterval and RefreshInterval must be positive.", nameof(RetryInterval));
        }
    }
}
