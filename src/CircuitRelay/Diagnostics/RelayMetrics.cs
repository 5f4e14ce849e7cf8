using System.Diagnostics.Metrics;

namespace CircuitRelay.Diagnostics;

/// <summary>What the server's and the client's instruments share: the meter and the tags.</summary>
internal static class RelayMetrics
{
    public const string MeterName = "CircuitRelay";

    public static readonly KeyValuePair<string, object?> ToTarget = new("direction", "to_target");
    public static readonly KeyValuePair<string, object?> ToSource = new("direction", "to_source");

    /// <summary>The <c>status</c> tag: the spec's name of the status (<c>NO_RESERVATION</c>, ...).</summary>
    public static KeyValuePair<string, object?> StatusTag(RelayStatus status) => new("status", status.ToWireName());

    public static Meter CreateMeter(IMeterFactory meterFactory)
    {
        ArgumentNullException.ThrowIfNull(meterFactory);
        return meterFactory.Create(MeterName);
    }
}

/// <summary>The relay service's instruments (<c>libp2p.relay.server.*</c>), created from the host application's <see cref="IMeterFactory"/>.</summary>
internal sealed class RelayServerMetrics
{
    public RelayServerMetrics(IMeterFactory meterFactory, Func<int> loadLevel)
    {
        Meter meter = RelayMetrics.CreateMeter(meterFactory);
        meter.CreateObservableGauge("libp2p.relay.server.load.level", loadLevel, "{level}", "The load level the policy last decided: 0 normal, 1 tight (limits and TTL scaled down), 2 refusing new requests.");
        ActiveReservations = meter.CreateUpDownCounter<long>("libp2p.relay.server.reservations.active", "{reservation}", "Reservations currently held on this relay.");
        Reservations = meter.CreateCounter<long>("libp2p.relay.server.reservations", "{reservation}", "Reservation requests, by outcome (accepted, renewed, refused) and status.");
        ReservationsEnded = meter.CreateCounter<long>("libp2p.relay.server.reservations.ended", "{reservation}", "Reservations ended, by reason (expired, disconnected).");
        ActiveCircuits = meter.CreateUpDownCounter<long>("libp2p.relay.server.circuits.active", "{circuit}", "Circuits currently relayed.");
        CircuitRequests = meter.CreateCounter<long>("libp2p.relay.server.connect_requests", "{request}", "Connect requests, by status.");
        CircuitsClosed = meter.CreateCounter<long>("libp2p.relay.server.circuits.closed", "{circuit}", "Circuits closed, by reason.");
        CircuitDuration = meter.CreateHistogram<double>("libp2p.relay.server.circuit.duration", "s", "Lifetime of relayed circuits.");
        BytesRelayed = meter.CreateCounter<long>("libp2p.relay.server.bytes", "By", "Bytes relayed, by direction (to_target, to_source).");
    }

    public UpDownCounter<long> ActiveReservations { get; }

    public Counter<long> Reservations { get; }

    public Counter<long> ReservationsEnded { get; }

    public UpDownCounter<long> ActiveCircuits { get; }

    public Counter<long> CircuitRequests { get; }

    public Counter<long> CircuitsClosed { get; }

    public Histogram<double> CircuitDuration { get; }

    public Counter<long> BytesRelayed { get; }
}

/// <summary>The relay client's instruments (<c>libp2p.relay.client.*</c>).</summary>
internal sealed class RelayClientMetrics
{
    public RelayClientMetrics(IMeterFactory meterFactory)
    {
        Meter meter = RelayMetrics.CreateMeter(meterFactory);
        Reservations = meter.CreateUpDownCounter<long>("libp2p.relay.client.reservations.active", "{reservation}", "Reservations this node holds on relays.");
        Renewals = meter.CreateCounter<long>("libp2p.relay.client.renewals", "{renewal}", "Reservation renewals, by outcome.");
        Incoming = meter.CreateCounter<long>("libp2p.relay.client.incoming", "{circuit}", "Incoming circuits (stop requests), by status.");
        Outgoing = meter.CreateCounter<long>("libp2p.relay.client.outgoing", "{circuit}", "Outgoing circuits (hop connect), by status.");
    }

    public UpDownCounter<long> Reservations { get; }

    public Counter<long> Renewals { get; }

    public Counter<long> Incoming { get; }

    public Counter<long> Outgoing { get; }
}
