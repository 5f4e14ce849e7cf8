using System.Diagnostics.Metrics;
using CircuitRelay.Diagnostics;

namespace CircuitRelay.AutoRelay;

/// <summary>The AutoRelay worker's instruments (<c>libp2p.autorelay.*</c> on the <c>CircuitRelay</c> meter), from the application's <see cref="IMeterFactory"/>.</summary>
internal sealed class AutoRelayMetrics
{
    public AutoRelayMetrics(IMeterFactory meterFactory, Func<int> held, int desired, RelayAddressBook book, RelayPool pool)
    {
        Meter meter = RelayMetrics.CreateMeter(meterFactory);
        Cycles = meter.CreateCounter<long>("libp2p.autorelay.cycles", "{cycle}", "Selection cycles run.");
        Reservations = meter.CreateCounter<long>("libp2p.autorelay.reservations", "{reservation}", "Reservations by outcome: opened, failed (an attempt), closed (a live one released: rotated or stopped).");
        Lost = meter.CreateCounter<long>("libp2p.autorelay.reservations.lost", "{reservation}", "Live reservations lost (renewal failed or expired).");
        Probes = meter.CreateCounter<long>("libp2p.autorelay.probes", "{probe}", "Probes of candidates known only by address, by outcome (succeeded, failed).");
        Rotations = meter.CreateCounter<long>("libp2p.autorelay.rotations", "{rotation}", "Reservations rotated to a better or younger relay.");
        meter.CreateObservableGauge("libp2p.autorelay.reservations.held", held, "{reservation}", "Live automatic reservations.");
        meter.CreateObservableGauge("libp2p.autorelay.reservations.desired", () => desired, "{reservation}", "Automatic reservations wanted.");
        meter.CreateObservableGauge(
            "libp2p.autorelay.candidates",
            () => book.CountBySource().Select(p => new Measurement<int>(p.Value, new KeyValuePair<string, object?>("source", p.Key.ToString().ToLowerInvariant()))),
            "{relay}",
            "Relays in the address book, by kind of source.");
        meter.CreateObservableGauge("libp2p.autorelay.backoff", () => pool.BackoffCount, "{relay}", "Relays in backoff.");
    }

    public static KeyValuePair<string, object?> Opened { get; } = new("outcome", "opened");

    public static KeyValuePair<string, object?> Failed { get; } = new("outcome", "failed");

    public static KeyValuePair<string, object?> Succeeded { get; } = new("outcome", "succeeded");

    public static KeyValuePair<string, object?> Closed { get; } = new("outcome", "closed");

    public Counter<long> Probes { get; }

    public Counter<long> Cycles { get; }

    public Counter<long> Reservations { get; }

    public Counter<long> Lost { get; }

    public Counter<long> Rotations { get; }
}
