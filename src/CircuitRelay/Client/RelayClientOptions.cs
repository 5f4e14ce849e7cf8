namespace CircuitRelay.Client;

/// <summary>Options of <see cref="RelayClient"/>. Defaults follow go-libp2p's client (digest 1.10) unless noted.</summary>
public sealed class RelayClientOptions
{
    /// <summary>
    /// When to renew, as the fraction of the remaining reservation time that may pass first.
    /// Default 0.75: a reservation with 60 minutes left is renewed after 45.
    /// </summary>
    public double RenewalFraction { get; set; } = 0.75;

    /// <summary>How long to wait before retrying a failed renewal (until the reservation expires). Default 30 seconds.</summary>
    public TimeSpan RenewalRetryInterval { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Deadline for a reservation request, connection to the relay included. Default 1 minute.</summary>
    public TimeSpan ReserveTimeout { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>Deadline for a connect request through a relay. Default 1 minute.</summary>
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>Deadline for reading the relay's stop request. Default 1 minute.</summary>
    public TimeSpan StopTimeout { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>How long an incoming circuit waits for <see cref="Transport.CircuitListener.AcceptAsync"/> before it is refused with CONNECTION_FAILED. Default 10 seconds.</summary>
    public TimeSpan AcceptTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Incoming circuits that may wait for acceptance per listener; more are refused with RESOURCE_LIMIT_EXCEEDED. Default 16.</summary>
    public int AcceptBacklog { get; set; } = 16;

    /// <summary>
    /// Relayed connections at once that may arrive through relays we hold no reservation with (a relay that still
    /// knows an old reservation of ours, or one a peer picked itself). 0 (the default, as rust-libp2p) refuses them all
    /// with <c>NO_RESERVATION</c>; above that they are refused only beyond the cap. They are handed to any of our
    /// circuit listeners.
    /// </summary>
    public int UnknownRelayCap { get; set; }

    /// <summary>Throws <see cref="ArgumentException"/> when an option is out of range.</summary>
    public void Validate()
    {
        Check(RenewalFraction is > 0 and < 1, nameof(RenewalFraction), "must be between 0 and 1 (exclusive)");
        Check(RenewalRetryInterval > TimeSpan.Zero, nameof(RenewalRetryInterval), "must be positive");
        Check(ReserveTimeout > TimeSpan.Zero, nameof(ReserveTimeout), "must be positive");
        Check(ConnectTimeout > TimeSpan.Zero, nameof(ConnectTimeout), "must be positive");
        Check(StopTimeout > TimeSpan.Zero, nameof(StopTimeout), "must be positive");
        Check(AcceptTimeout > TimeSpan.Zero, nameof(AcceptTimeout), "must be positive");
        Check(AcceptBacklog > 0, nameof(AcceptBacklog), "must be positive");
        Check(UnknownRelayCap >= 0, nameof(UnknownRelayCap), "must not be negative");

        static void Check(bool condition, string name, string message)
        {
            if (!condition)
            {
                throw new ArgumentException($"RelayClientOptions.{name} {message}.", name);
            }
        }
    }

    internal RelayClientOptions Clone() => (RelayClientOptions)MemberwiseClone();
}
