using System.Diagnostics.Metrics;

namespace CircuitRelay.LoadTest;

/// <summary>The meter factory of the in-process hosts; the meters are disposed with it.</summary>
internal sealed class LoadTestMeterFactory : IMeterFactory
{
    private readonly List<Meter> _meters = [];
    private readonly Lock _lock = new();

    public Meter Create(MeterOptions options)
    {
        var meter = new Meter(options);
        lock (_lock)
        {
            _meters.Add(meter);
        }

        return meter;
    }

    public void Dispose()
    {
        lock (_lock)
        {
            _meters.ForEach(m => m.Dispose());
            _meters.Clear();
        }
    }
}
