using CircuitRelay.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers CircuitRelay in a service collection.</summary>
public static class CircuitRelayServiceCollectionExtensions
{
    /// <summary>
    /// Adds a CircuitRelay node (the reference host unless <see cref="CircuitRelayBuilder.UseHost"/> says otherwise, and the
    /// relay client), and a hosted service that starts it with the application and stops it with it. Add the parts with the
    /// returned builder: <c>.AddRelayServer()</c>, <c>.AddAutoRelay()</c>, <c>.AddAutoNat()</c>. Resolve
    /// <see cref="CircuitRelayNode"/> to reach the running parts. <see cref="TimeProvider"/> (<see cref="TimeProvider.System"/>),
    /// <c>IMeterFactory</c> and <c>ILoggerFactory</c> are added when missing.
    /// </summary>
    /// <param name="services">The service collection.</param>
    /// <param name="configuration">The configuration whose <c>CircuitRelay</c> section the options bind from (the root, or that section itself); none: defaults and callbacks only.</param>
    public static CircuitRelayBuilder AddCircuitRelay(this IServiceCollection services, IConfiguration? configuration = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        IConfiguration? section = configuration switch
        {
            null => null,
            IConfigurationSection { Key: CircuitRelayBuilder.SectionName } own => own,
            _ => configuration.GetSection(CircuitRelayBuilder.SectionName),
        };

        services.TryAddSingleton(TimeProvider.System);
        services.AddMetrics();
        services.AddLogging();
        var parts = new CircuitRelayParts();
        var builder = new CircuitRelayBuilder(services, section, parts);
        builder.UseReferenceHost();
        builder.ConfigureNode();
        builder.ConfigureRelayClient();
        services.AddSingleton(parts);
        services.TryAddSingleton(_ => new CircuitRelayNode());
        services.AddSingleton<IHostedService, CircuitRelayHostedService>();
        return builder;
    }
}
