namespace CircuitRelay.AutoRelay;

/// <summary>Options of <see cref="AutoRelayService"/>.</summary>
public sealed class AutoRelayOptions
{
    /// <summary>How many reservations the node keeps live. Default 2.</summary>
    public int DesiredReservations { get; set; } = 2;

    /// <summary>
    /// Relays always reserved on, apart from the automatic ones (<c>&lt;addr&gt;/p2p/&lt;relay&gt;</c>): not counted in
    /// <see cref="DesiredReservations"/>, never rotated, retried every cycle after a loss (with the pool's backoff).
    /// </summary>
    public IList<Multiaddr> StaticRelays { get; } = [];

    /// <summary>How often the worker reconsiders its reservations when nothing happened. Default 30 seconds.</summary>
    public TimeSpan CycleInterval { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Deadline for one reservation attempt (dial, handshake and RESERVE). Default 10 seconds.</summary>
    public TimeSpan ReserveTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Throws <see cref="ArgumentException"/> naming the option that is invalid.</summary>
    public void Validate()
    {
        if (DesiredReservations < 1)
        {
            throw new ArgumentException($"DesiredReservations is {DesiredReservations}; it must be at least 1.", nameof(DesiredReservations));
        }

        foreach (Multiaddr relay in StaticRelays)
        {
            if (relay.GetPeerId() is null || relay.IsRelayed)
            {
                throw new ArgumentException($"Static relay '{relay}' must be a direct address ending in /p2p/<relay id>.", nameof(StaticRelays));
            }
        }

        if (CycleInterval <= TimeSpan.Zero || ReserveTimeout <= TimeSpan.Zero)
        {
            throw new ArgumentException("CycleInterval and ReserveTimeout must be positive.", CycleInterval <= TimeSpan.Zero ? nameof(CycleInterval) : nameof(ReserveTimeout));
        }
    }
}
