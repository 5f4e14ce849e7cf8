using CircuitRelay.Abstractions;
using CircuitRelay.AutoNat;
using CircuitRelay.AutoRelay;
using CircuitRelay.Client;
using CircuitRelay.Server;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace CircuitRelay.Hosting;

/// <summary>
/// Adds CircuitRelay's parts to a service collection (from <c>services.AddCircuitRelay(...)</c>). Each part's options
/// bind from its configuration section under <c>CircuitRelay</c> (<c>Host</c>, <c>Node</c>, <c>RelayServer</c>,
/// <c>RelayClient</c>, <c>AutoRelay</c>, <c>RelayPool</c>, <c>AutoNat</c>, <c>AutoNatServer</c>,
/// <c>AutoNatV2Server</c>), then the optional <c>configure</c> callback runs, and every part is validated when the
/// application starts: a bad value stops it with an <see cref="OptionsValidationException"/> naming the key.
/// </summary>
public sealed class CircuitRelayBuilder
{
    /// <summary>The configuration section of the library's options: <c>CircuitRelay</c>.</summary>
    public const string SectionName = "CircuitRelay";

    internal CircuitRelayBuilder(IServiceCollection services, IConfiguration? configuration, CircuitRelayParts parts)
    {
        Services = services;
        Configuration = configuration;
        Parts = parts;
    }

    /// <summary>The services being configured.</summary>
    public IServiceCollection Services { get; }

    /// <summary>The <c>CircuitRelay</c> configuration section options bind from, if any.</summary>
    public IConfiguration? Configuration { get; }

    internal CircuitRelayParts Parts { get; }

    /// <summary>Runs the node on the reference host (the default): TCP, Noise, Yamux, Identify, Ping; section <c>Host</c>.</summary>
    public CircuitRelayBuilder UseReferenceHost(Action<ReferenceHostSettings>? configure = null)
    {
        Parts.HostFactory = null;
        Parts.AddCircuitTransport = null;
        Configure("Host", configure, static o => o.Validate());
        return this;
    }

    /// <summary>
    /// Runs the node on a host of one's own that implements the plug-in surface (<see cref="ILibp2pHost"/> and the
    /// feature interfaces the added parts need). The factory runs at start; the node owns the host it returns and
    /// disposes it (when it is <see cref="IAsyncDisposable"/>) at stop. <paramref name="addCircuitTransport"/> hands the
    /// host the <c>/p2p-circuit</c> transport over the node's relay client, for it to dial and listen through relays
    /// (a reference host gets it without).
    /// </summary>
    public CircuitRelayBuilder UseHost(Func<IServiceProvider, CancellationToken, ValueTask<ILibp2pHost>> factory, Action<ILibp2pHost, Transport.CircuitTransport>? addCircuitTransport = null)
    {
        ArgumentNullException.ThrowIfNull(factory);
        Parts.HostFactory = factory;
        Parts.AddCircuitTransport = addCircuitTransport;
        return this;
    }

    /// <summary>Serves as a relay (when <see cref="CircuitRelayNodeOptions.RelayService"/> says so); section <c>RelayServer</c>; reloads take effect at once.</summary>
    public CircuitRelayBuilder AddRelayServer(Action<RelayServerOptions>? configure = null)
    {
        Parts.RelayServer = true;
        Configure("RelayServer", configure, static o => o.Validate());
        return this;
    }

    /// <summary>The relay client's options (the client always runs); section <c>RelayClient</c>.</summary>
    public CircuitRelayBuilder ConfigureRelayClient(Action<RelayClientOptions>? configure = null)
    {
        Configure("RelayClient", configure, static o => o.Validate());
        return this;
    }

    /// <summary>
    /// Reserves through relays found by itself while the node is not public (candidates and static relays from section
    /// <c>Node</c>, adverts gossiped by peers); sections <c>AutoRelay</c> and <c>RelayPool</c>.
    /// </summary>
    public CircuitRelayBuilder AddAutoRelay(Action<AutoRelayOptions>? configure = null)
    {
        Parts.AutoRelay = true;
        Configure("AutoRelay", configure, static o => o.Validate());
        Configure<RelayPoolOptions>("RelayPool", null, static o => o.Validate());
        return this;
    }

    /// <summary>
    /// Learns the node's reachability with AutoNAT v1 and v2 and serves both to others; sections <c>AutoNat</c>,
    /// <c>AutoNatServer</c> and <c>AutoNatV2Server</c>. The role follows it unless <see cref="CircuitRelayNodeOptions.Role"/> forces one.
    /// </summary>
    public CircuitRelayBuilder AddAutoNat(Action<AutoNatServiceOptions>? configure = null)
    {
        Parts.AutoNat = true;
        Configure("AutoNat", configure, static o => o.Validate());
        Configure<AutoNatServerOptions>("AutoNatServer", null, static o => o.Validate());
        Configure<AutoNatV2ServerOptions>("AutoNatV2Server", null, static o => o.Validate());
        return this;
    }

    /// <summary>The node's options (role, relay service, candidates, static relays, stop timeout); section <c>Node</c>.</summary>
    public CircuitRelayBuilder ConfigureNode(Action<CircuitRelayNodeOptions>? configure = null)
    {
        Configure("Node", configure, static o => o.Validate());
        return this;
    }

    internal void Configure<TOptions>(string section, Action<TOptions>? configure, Action<TOptions> validate)
        where TOptions : class
    {
        OptionsBuilder<TOptions> options = Services.AddOptions<TOptions>();
        if (Parts.Bound.Add(section))
        {
            // Bound once, before any callback, so a callback always overrides the configuration.
            if (Configuration is not null)
            {
                options.Bind(Configuration.GetSection(section));
            }

            Services.AddSingleton<IValidateOptions<TOptions>>(new SectionValidator<TOptions>($"{SectionName}:{section}", validate));
            options.ValidateOnStart();
        }

        if (configure is not null)
        {
            options.Configure(configure);
        }
    }
}

/// <summary>Which parts the builder added, and the host factory (null: the reference host).</summary>
internal sealed class CircuitRelayParts
{
    public bool RelayServer { get; set; }

    public bool AutoRelay { get; set; }

    public bool AutoNat { get; set; }

    public Func<IServiceProvider, CancellationToken, ValueTask<ILibp2pHost>>? HostFactory { get; set; }

    public Action<ILibp2pHost, Transport.CircuitTransport>? AddCircuitTransport { get; set; }

    public HashSet<string> Bound { get; } = new(StringComparer.Ordinal);
}

/// <summary>Runs an options class's own <c>Validate()</c> at start and names the configuration key in the failure.</summary>
internal sealed class SectionValidator<TOptions>(string section, Action<TOptions> validate) : IValidateOptions<TOptions>
    where TOptions : class
{
    public ValidateOptionsResult Validate(string? name, TOptions options)
    {
        try
        {
            validate(options);
            return ValidateOptionsResult.Success;
        }
        catch (ArgumentException ex)
        {
            string key = string.IsNullOrEmpty(ex.ParamName) ? section : $"{section}:{ex.ParamName}";
            string message = ex.ParamName is null ? ex.Message : ex.Message.Replace($" (Parameter '{ex.ParamName}')", string.Empty, StringComparison.Ordinal);
            return ValidateOptionsResult.Fail($"{key}: {message}");
        }
    }
}
