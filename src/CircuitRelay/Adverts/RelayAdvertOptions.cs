namespace CircuitRelay.Adverts;

/// <summary>Options of <see cref="RelayAdvertPublisher"/>: what a relay says of itself.</summary>
public sealed class RelayAdvertOptions
{
    /// <summary>How many reservations the relay accepts in all (its <c>MaxReservations</c>); 0 = not said. Default 0.</summary>
    public uint Capacity { get; set; }

    /// <summary>How long each sealed advert is valid; it is sealed anew when half of it has passed. Default 30 minutes, at most 24 hours.</summary>
    public TimeSpan Ttl { get; set; } = TimeSpan.FromMinutes(30);

    /// <summary>The role the advert states. Default <see cref="NodeRole.Public"/>.</summary>
    public NodeRole Role { get; set; } = NodeRole.Public;

    /// <summary>
    /// The addresses to advertise (direct, without <c>/p2p/&lt;id&gt;</c>); empty = the host's own listen and external
    /// addresses, without circuit and unspecified (<c>0.0.0.0</c>, <c>::</c>) ones. At most
    /// <see cref="RelayAdvert.MaxAddresses"/> are sealed.
    /// </summary>
    public IList<Multiaddr> Addresses { get; } = [];

    /// <summary>
    /// When the relay's load (reservations held) changed, the advert is sealed anew at most this often, so gossip
    /// carries a fresh count without a new signature per reservation. Default 30 seconds.
    /// </summary>
    public TimeSpan LoadRefreshInterval { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Throws <see cref="ArgumentException"/> naming the option that is invalid.</summary>
    public void Validate()
    {
        if (Ttl <= TimeSpan.Zero || Ttl > RelayAdvert.MaxTtl)
        {
            throw new ArgumentException($"Ttl is {Ttl}; it must be more than zero and at most {RelayAdvert.MaxTtl}.", nameof(Ttl));
        }

        if (LoadRefreshInterval <= TimeSpan.Zero)
        {
            throw new ArgumentException($"LoadRefreshInterval is {LoadRefreshInterval}; it must be positive.", nameof(LoadRefreshInterval));
        }

        foreach (Multiaddr address in Addresses)
        {
            if (address.IsRelayed || address.WithoutPeerId().IsEmpty)
            {
                throw new ArgumentException($"Advertised address '{address}' must be a direct address.", nameof(Addresses));
            }
        }
    }
}
