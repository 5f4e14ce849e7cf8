using System.Net;

namespace CircuitRelay.Server;

/// <summary>A request rate limit: <see cref="Permits"/> requests per <see cref="Period"/> (0 permits = unlimited).</summary>
public sealed class RateLimitOptions
{
    /// <summary>Requests allowed per period; 0 disables the limit.</summary>
    public int Permits { get; set; }

    /// <summary>The period over which <see cref="Permits"/> refill.</summary>
    public TimeSpan Period { get; set; } = TimeSpan.FromMinutes(1);
}

/// <summary>
/// Options of <see cref="RelayServer"/>. Defaults follow go-libp2p's relay (digest 1.10) unless noted.
/// Bind from configuration with the options pattern; the delegate hooks are code-only.
/// </summary>
public sealed class RelayServerOptions
{
    /// <summary>How long a reservation lasts; renewing restarts it. Default 1 hour.</summary>
    public TimeSpan ReservationTtl { get; set; } = TimeSpan.FromHours(1);

    /// <summary>Maximum reservations held at once. Default 128.</summary>
    public int MaxReservations { get; set; } = 128;

    /// <summary>Maximum reservations from one IP address. Default 8.</summary>
    public int MaxReservationsPerIp { get; set; } = 8;

    /// <summary>Maximum reservations from one autonomous system (needs <see cref="AsnResolver"/>). Default 32.</summary>
    public int MaxReservationsPerAsn { get; set; } = 32;

    /// <summary>Maximum circuits relayed at once, in total. Default 1024.</summary>
    public int MaxCircuits { get; set; } = 1024;

    /// <summary>Maximum circuits one peer takes part in, as source or target. Default 16.</summary>
    public int MaxCircuitsPerPeer { get; set; } = 16;

    /// <summary>
    /// Maximum lifetime of one circuit, sent as <c>Limit.duration</c> (whole seconds). Default 2 minutes;
    /// <see cref="TimeSpan.Zero"/> = no duration limit.
    /// </summary>
    public TimeSpan CircuitDurationLimit { get; set; } = RelayLimit.Default.Duration;

    /// <summary>
    /// Maximum bytes relayed in each direction of one circuit, sent as <c>Limit.data</c>. Default 128 KiB;
    /// 0 = no data limit. With both this and <see cref="CircuitDurationLimit"/> at zero the relay is
    /// unlimited and sends no <c>limit</c> at all.
    /// </summary>
    public long CircuitDataLimit { get; set; } = (long)RelayLimit.Default.DataBytes;

    /// <summary>
    /// Optional cap on the bytes per second relayed for one peer across all of its circuits (sent plus
    /// received, as source or target). 0 = no cap. Changing it at run time affects live circuits.
    /// </summary>
    public long MaxBandwidthPerPeer { get; set; }

    /// <summary>Burst allowance of the per-peer bandwidth cap in bytes; 0 = one second's worth.</summary>
    public long BandwidthBurstPerPeer { get; set; }

    /// <summary>Reservation requests per peer. Default 30 per 2 minutes (rust's default).</summary>
    public RateLimitOptions ReservationRateLimitPerPeer { get; set; } = new() { Permits = 30, Period = TimeSpan.FromMinutes(2) };

    /// <summary>Reservation requests per IP address. Default 60 per minute (rust's default).</summary>
    public RateLimitOptions ReservationRateLimitPerIp { get; set; } = new() { Permits = 60, Period = TimeSpan.FromMinutes(1) };

    /// <summary>Connect requests per source peer. Default 30 per 2 minutes.</summary>
    public RateLimitOptions ConnectRateLimitPerPeer { get; set; } = new() { Permits = 30, Period = TimeSpan.FromMinutes(2) };

    /// <summary>Connect requests per source IP address. Default 60 per minute.</summary>
    public RateLimitOptions ConnectRateLimitPerIp { get; set; } = new() { Permits = 60, Period = TimeSpan.FromMinutes(1) };

    /// <summary>Deadline for every read from a remote (the request, the target's stop answer). Default 1 minute.</summary>
    public TimeSpan StreamTimeout { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>Deadline for opening the stop stream to the target. Default 30 seconds.</summary>
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Largest chunk the splice forwards per write. Default 16 KiB.</summary>
    public int BufferSize { get; set; } = 16 * 1024;

    /// <summary>
    /// Chooses which of the relay's addresses go into reservations (code-only). Default: every
    /// address that is not itself relayed. go keeps only public addresses; pass such a filter in production.
    /// </summary>
    public Func<Multiaddr, bool>? AddressFilter { get; set; }

    /// <summary>Access control for reservations: (peer, its address) → allowed (code-only). Default: allow.</summary>
    public Func<PeerId, Multiaddr, bool>? AllowReservation { get; set; }

    /// <summary>Access control for circuits: (source, source address, target) → allowed (code-only). Default: allow.</summary>
    public Func<PeerId, Multiaddr, PeerId, bool>? AllowConnect { get; set; }

    /// <summary>Maps an IP address to its autonomous system number for <see cref="MaxReservationsPerAsn"/> (code-only).</summary>
    public Func<IPAddress, uint?>? AsnResolver { get; set; }

    /// <summary>
    /// Decides how the relay treats new requests under load (code-only); <see langword="null"/> is a
    /// <see cref="WatermarkLoadPolicy"/> with its defaults (circuits tight at 75 % and refusing at 95 % of
    /// <see cref="MaxCircuits"/>, with hysteresis).
    /// </summary>
    public IRelayLoadPolicy? LoadPolicy { get; set; }

    /// <summary>
    /// At <see cref="RelayLoadLevel.Tight"/>, new circuits get their duration and data limits, and new reservations their
    /// TTL, multiplied by this (more than 0, at most 1). Default 0.5.
    /// </summary>
    public double LoadTightFactor { get; set; } = 0.5;

    /// <summary>The circuit limit at <paramref name="level"/>: the configured one, scaled by <see cref="LoadTightFactor"/> when tight (at least 1 s and 1 byte).</summary>
    internal RelayLimit? GetCircuitLimit(RelayLoadLevel level)
    {
        RelayLimit? limit = GetCircuitLimit();
        if (limit is null || level != RelayLoadLevel.Tight)
        {
            return limit;
        }

        TimeSpan duration = limit.Duration > TimeSpan.Zero ? TimeSpan.FromSeconds(Math.Max(1, Math.Floor(limit.Duration.TotalSeconds * LoadTightFactor))) : TimeSpan.Zero;
        ulong data = limit.DataBytes > 0 ? Math.Max(1UL, (ulong)(limit.DataBytes * LoadTightFactor)) : 0;
        return new RelayLimit(duration, data);
    }

    /// <summary>The limit these options put on circuits, or <see langword="null"/> when unlimited.</summary>
    public RelayLimit? GetCircuitLimit()
        => CircuitDurationLimit <= TimeSpan.Zero && CircuitDataLimit <= 0
            ? null
            : new RelayLimit(CircuitDurationLimit > TimeSpan.Zero ? CircuitDurationLimit : TimeSpan.Zero, (ulong)Math.Max(0, CircuitDataLimit));

    /// <summary>Throws <see cref="ArgumentException"/> when an option is out of range.</summary>
    public void Validate()
    {
        Check(ReservationTtl > TimeSpan.Zero, nameof(ReservationTtl), "must be positive");
        Check(LoadTightFactor > 0 && LoadTightFactor <= 1, nameof(LoadTightFactor), "must be more than 0 and at most 1");
        Check(MaxReservations >= 0, nameof(MaxReservations), "must not be negative");
        Check(MaxReservationsPerIp >= 0, nameof(MaxReservationsPerIp), "must not be negative");
        Check(MaxReservationsPerAsn >= 0, nameof(MaxReservationsPerAsn), "must not be negative");
        Check(MaxCircuits >= 0, nameof(MaxCircuits), "must not be negative");
        Check(MaxCircuitsPerPeer >= 0, nameof(MaxCircuitsPerPeer), "must not be negative");
        Check(CircuitDurationLimit >= TimeSpan.Zero && CircuitDurationLimit.TotalSeconds <= uint.MaxValue, nameof(CircuitDurationLimit), "must be between 0 and 2^32-1 seconds");
        Check(CircuitDurationLimit.Ticks % TimeSpan.TicksPerSecond == 0, nameof(CircuitDurationLimit), "must be whole seconds (the wire carries seconds)");
        Check(CircuitDataLimit >= 0, nameof(CircuitDataLimit), "must not be negative");
        Check(MaxBandwidthPerPeer >= 0, nameof(MaxBandwidthPerPeer), "must not be negative");
        Check(BandwidthBurstPerPeer >= 0, nameof(BandwidthBurstPerPeer), "must not be negative");
        Check(StreamTimeout > TimeSpan.Zero, nameof(StreamTimeout), "must be positive");
        Check(ConnectTimeout > TimeSpan.Zero, nameof(ConnectTimeout), "must be positive");
        Check(BufferSize is >= 256 and <= 1024 * 1024, nameof(BufferSize), "must be between 256 B and 1 MiB");
        foreach (var (name, rate) in new[]
        {
            (nameof(ReservationRateLimitPerPeer), ReservationRateLimitPerPeer),
            (nameof(ReservationRateLimitPerIp), ReservationRateLimitPerIp),
            (nameof(ConnectRateLimitPerPeer), ConnectRateLimitPerPeer),
            (nameof(ConnectRateLimitPerIp), ConnectRateLimitPerIp),
        })
        {
            Check(rate is not null && rate.Permits >= 0 && (rate.Permits == 0 || rate.Period > TimeSpan.Zero), name, "needs Permits >= 0 and a positive Period");
        }

        static void Check(bool condition, string name, string message)
        {
            if (!condition)
            {
                throw new ArgumentException($"RelayServerOptions.{name} {message}.", name);
            }
        }
    }

    internal RelayServerOptions Clone()
    {
        var clone = (RelayServerOptions)MemberwiseClone();
        clone.ReservationRateLimitPerPeer = Copy(ReservationRateLimitPerPeer);
        clone.ReservationRateLimitPerIp = Copy(ReservationRateLimitPerIp);
        clone.ConnectRateLimitPerPeer = Copy(ConnectRateLimitPerPeer);
        clone.ConnectRateLimitPerIp = Copy(ConnectRateLimitPerIp);
        return clone;

        static RateLimitOptions Copy(RateLimitOptions o) => new() { Permits = o.Permits, Period = o.Period };
    }
}
