namespace CircuitRelay.Server;

/// <summary>What happened to a reservation on the relay.</summary>
public enum ReservationEventKind
{
    /// <summary>A new reservation was granted.</summary>
    Accepted,

    /// <summary>An existing reservation was renewed.</summary>
    Renewed,

    /// <summary>A reservation request was refused (<see cref="RelayReservationEventArgs.Status"/> says why).</summary>
    Refused,

    /// <summary>A reservation reached its expiry without renewal.</summary>
    Expired,

    /// <summary>The reserving peer disconnected, which ends its reservation.</summary>
    Disconnected,
}

/// <summary>A reservation event of <see cref="RelayServer"/>.</summary>
public sealed class RelayReservationEventArgs(PeerId peer, ReservationEventKind kind, RelayStatus status, DateTimeOffset? expiry) : EventArgs
{
    /// <summary>The reserving peer.</summary>
    public PeerId Peer { get; } = peer;

    /// <summary>What happened.</summary>
    public ReservationEventKind Kind { get; } = kind;

    /// <summary>The status answered (<see cref="RelayStatus.Ok"/> except for <see cref="ReservationEventKind.Refused"/>).</summary>
    public RelayStatus Status { get; } = status;

    /// <summary>The reservation's expiry, when one was granted.</summary>
    public DateTimeOffset? Expiry { get; } = expiry;
}

/// <summary>A circuit event of <see cref="RelayServer"/>.</summary>
public sealed class RelayCircuitEventArgs(PeerId source, PeerId? target, RelayStatus status) : EventArgs
{
    /// <summary>The peer that asked for the circuit.</summary>
    public PeerId Source { get; } = source;

    /// <summary>The target peer (null when the request named none that parsed).</summary>
    public PeerId? Target { get; } = target;

    /// <summary>The status answered to the source.</summary>
    public RelayStatus Status { get; } = status;

    /// <summary>Why the circuit ended (closed events only).</summary>
    public CircuitCloseReason? Reason { get; init; }

    /// <summary>Bytes relayed from source to target (closed events only).</summary>
    public long BytesToTarget { get; init; }

    /// <summary>Bytes relayed from target to source (closed events only).</summary>
    public long BytesToSource { get; init; }

    /// <summary>How long the circuit lived (closed events only).</summary>
    public TimeSpan Duration { get; init; }
}

/// <summary>A snapshot of <see cref="RelayServer"/>'s counters.</summary>
public sealed record RelayServerStatistics
{
    /// <summary>Reservations currently held.</summary>
    public int ActiveReservations { get; init; }

    /// <summary>The load level the policy last decided (see <see cref="RelayServerOptions.LoadPolicy"/>).</summary>
    public RelayLoadLevel LoadLevel { get; init; }

    /// <summary>Circuits currently relayed.</summary>
    public int ActiveCircuits { get; init; }

    /// <summary>Hop streams being read or answered right now (requests in flight).</summary>
    public int PendingRequests { get; init; }

    /// <summary>Peers taking part in live circuits (each has a bandwidth bucket while it does).</summary>
    public int TrackedPeers { get; init; }

    /// <summary>New reservations granted.</summary>
    public long ReservationsAccepted { get; init; }

    /// <summary>Reservations renewed.</summary>
    public long ReservationsRenewed { get; init; }

    /// <summary>Reservation requests refused.</summary>
    public long ReservationsRefused { get; init; }

    /// <summary>Reservations that expired.</summary>
    public long ReservationsExpired { get; init; }

    /// <summary>Circuits opened.</summary>
    public long CircuitsOpened { get; init; }

    /// <summary>Circuits closed.</summary>
    public long CircuitsClosed { get; init; }

    /// <summary>Connect requests refused.</summary>
    public long ConnectsRefused { get; init; }

    /// <summary>Hop streams rejected before a request could be served (malformed, unexpected, timed out).</summary>
    public long RequestsRejected { get; init; }

    /// <summary>Total bytes relayed from sources to targets.</summary>
    public long BytesToTarget { get; init; }

    /// <summary>Total bytes relayed from targets to sources.</summary>
    public long BytesToSource { get; init; }
}
