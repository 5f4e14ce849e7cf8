namespace CircuitRelay.AutoNat;

/// <summary>Options of <see cref="AutoNatV2Server"/>; defaults follow go-libp2p's AutoNAT v2 server (digest 2.2).</summary>
public sealed class AutoNatV2ServerOptions
{
    /// <summary>Addresses of a request looked at (the first one the server will dial is taken). Default 50.</summary>
    public int MaxAddresses { get; set; } = 50;

    /// <summary>Requests served in all per minute. Default 60.</summary>
    public int RequestsPerMinute { get; set; } = 60;

    /// <summary>Requests one peer may make per minute. Default 12.</summary>
    public int RequestsPerPeerPerMinute { get; set; } = 12;

    /// <summary>Requests that need dial data (the address is off the requester's observed IP), in all per minute. Default 12.</summary>
    public int DialDataRequestsPerMinute { get; set; } = 12;

    /// <summary>Requests one peer may have in flight at once. Default 2.</summary>
    public int MaxConcurrentRequestsPerPeer { get; set; } = 2;

    /// <summary>The least dial data asked for (bytes). Default 30,000, the spec's lower bound.</summary>
    public int MinDialData { get; set; } = 30_000;

    /// <summary>The most dial data asked for (bytes). Default 100,000, the spec's upper bound.</summary>
    public int MaxDialData { get; set; } = 100_000;

    /// <summary>After dial data was paid, the dial-back waits a random time up to this (seeded). Default 3 seconds.</summary>
    public TimeSpan DialDataWait { get; set; } = TimeSpan.FromSeconds(3);

    /// <summary>Deadline of the whole request stream. Default 15 seconds.</summary>
    public TimeSpan StreamTimeout { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>Deadline of the dial-back's connection. Default 10 seconds.</summary>
    public TimeSpan DialBackTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Deadline of the dial-back stream (nonce sent, answer read). Default 5 seconds.</summary>
    public TimeSpan DialBackStreamTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Whether private and loopback addresses are dialed: labs and LANs only. Default false.</summary>
    public bool AllowPrivate { get; set; }

    /// <summary>The seed of the dial data amounts and waits.</summary>
    public int RngSeed { get; set; }

    /// <summary>Throws <see cref="ArgumentException"/> naming the option that is invalid.</summary>
    public void Validate()
    {
        (string Name, int Value)[] positive =
        [
            (nameof(MaxAddresses), MaxAddresses), (nameof(RequestsPerMinute), RequestsPerMinute), (nameof(RequestsPerPeerPerMinute), RequestsPerPeerPerMinute),
            (nameof(DialDataRequestsPerMinute), DialDataRequestsPerMinute), (nameof(MaxConcurrentRequestsPerPeer), MaxConcurrentRequestsPerPeer),
        ];
        foreach ((string name, int value) in positive)
        {
            if (value < 1)
            {
                throw new ArgumentException($"{name} is {value}; it must be at least 1.", name);
            }
        }

        if (MinDialData < 1 || MaxDialData < MinDialData)
        {
            throw new ArgumentException($"MinDialData ({MinDialData}) must be at least 1 and MaxDialData ({MaxDialData}) at least MinDialData.", nameof(MaxDialData));
        }

        if (DialDataWait < TimeSpan.Zero || StreamTimeout <= TimeSpan.Zero || DialBackTimeout <= TimeSpan.Zero || DialBackStreamTimeout <= TimeSpan.Zero)
        {
            throw new ArgumentException("StreamTimeout, DialBackTimeout and DialBackStreamTimeout must be positive and DialDataWait not negative.", nameof(StreamTimeout));
        }
    }
}
