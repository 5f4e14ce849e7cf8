using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;

namespace CircuitRelay.Testing;

/// <summary>
/// The framework's meter factory (<c>AddMetrics()</c>) for one test, owning its service provider: disposing it disposes
/// the meters it made. Meters it makes are scoped to the framework's factory, not to this wrapper:
/// <see cref="Collect{T}"/> records one instrument of a meter made here.
/// </summary>
public sealed class TestMeterFactory : IMeterFactory
{
    private readonly ServiceProvider _services = new ServiceCollection().AddMetrics().BuildServiceProvider();
    private readonly IMeterFactory _factory;

    public TestMeterFactory() => _factory = _services.GetRequiredService<IMeterFactory>();

    public Meter Create(MeterOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);

        // IMeterFactory.Create(name) scopes the meter to this wrapper; the framework's factory only accepts its own scope.
        return _factory.Create(new MeterOptions(options.Name)
        {
            Version = options.Version,
            Tags = options.Tags,
            TelemetrySchemaUrl = options.TelemetrySchemaUrl,
            Scope = _factory,
        });
    }

    /// <summary>
    /// Records the measurements of <paramref name="instrumentName"/> on the meter <paramref name="meterName"/> made by this
    /// factory (meters of the same name made elsewhere are not seen), from now on.
    /// </summary>
    public MetricCollector<T> Collect<T>(string meterName, string instrumentName)
        where T : struct
        => new(_factory, meterName, instrumentName);

    public void Dispose() => _services.Dispose();
}
