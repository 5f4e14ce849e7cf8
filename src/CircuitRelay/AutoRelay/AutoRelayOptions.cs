namespace CircuitRelay.AutoRelay;

/// <summary>Options of <see cref="AutoRelayService"/>.</summary>
public sealed class AutoRelayOptions
{
    /// <summary>How many automatic reservations the node keeps live; 0 keeps only <see cref="StaticRelays"/>. Default 2.</summary>
    public int DesiredReservations { get; set; } = 2;

    /// <summary>
    /// The operator's relay candidates (trusted: they need no second source): direct addresses with or without
    /// <c>/p2p/&lt;relay&gt;</c>. One without a peer id is probed first: dialed, its peer id learned from the secure
    /// handshake and its protocols from Identify; it joins the book only when it lists the hop protocol.
    /// </summary>
    public IList<Multiaddr> Candidates { get; } = [];

    /// <summary>
    /// Relays always reserved on, apart from the automatic ones (<c>&lt;addr&gt;/p2p/&lt;relay&gt;</c>): not counted in
    /// <see cref="DesiredReservations"/>, never rotated, retried every cycle after a loss (with the pool's backoff).
    /// </summary>
    public IList<Multiaddr> StaticRelays { get; } = [];

    /// <summary>How often the worker reconsiders its reservations when nothing happened. Default 30 seconds.</summary>
    public TimeSpan CycleInterval { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Deadline for one reservation attempt (dial, handshake and RESERVE) or one probe (dial and Identify). Default 10 seconds.</summary>
    public TimeSpan ReserveTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// How often each relay holding a reservation is pinged (when the host has <see cref="Abstractions.IPingFeature"/>),
    /// so a relay that froze with its connections open is noticed: at most this plus <see cref="LivenessTimeout"/>.
    /// Default 5 seconds.
    /// </summary>
    public TimeSpan LivenessInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>A liveness ping not answered within this loses the reservation and closes the relay's connection. Default 5 seconds.</summary>
    public TimeSpan LivenessTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Throws <see cref="ArgumentException"/> naming the option that is invalid.</summary>
    public void Validate()
    {
        if (DesiredReservations < 0)
        {
            throw new ArgumentException($"DesiredReservations is {DesiredReservations}; it must be 0 (static relays only) or more.", nameof(DesiredReservations));
        }

        foreach (Multiaddr relay in StaticRelays)
        {
            if (relay.GetPeerId() is null || relay.IsRelayed)
            {
                throw new ArgumentException($"Static relay '{relay}' must be a direct address ending in /p2p/<relay id>.", nameof(StaticRelays));
            }
        }

        foreach (Multiaddr candidate in Candidates)
        {
            if (candidate.IsRelayed || candidate.WithoutPeerId().IsEmpty)
            {
                throw new ArgumentException($"Relay candidate '{candidate}' must be a direct address (with or without /p2p/<relay id>).", nameof(Candidates));
            }
        }

        foreach ((TimeSpan value, string name) in new[]
        {
            (CycleInterval, nameof(CycleInterval)), (ReserveTimeout, nameof(ReserveTimeout)),
            (LivenessInterval, nameof(LivenessInterval)), (LivenessTimeout, nameof(LivenessTimeout)),
        })
        {
            if (value <= TimeSpan.Zero)
            {
                throw new ArgumentException($"{name} is {value}; it must be positive.", name);
            }
        }
    }
}
