using CircuitRelay.Client;
using CircuitRelay.Server;
using CircuitRelay.Tests.Infrastructure;
using Microsoft.Extensions.Configuration;

namespace CircuitRelay.Tests.Relay;

public sealed class OptionsBindingTests
{
    [Fact]
    public void RelayServerOptions_BindFromConfiguration()
    {
        IConfiguration configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Relay:ReservationTtl"] = "00:30:00",
            ["Relay:MaxReservations"] = "64",
            ["Relay:MaxCircuitsPerPeer"] = "4",
            ["Relay:CircuitDurationLimit"] = "00:00:00",
            ["Relay:CircuitDataLimit"] = "0",
            ["Relay:MaxBandwidthPerPeer"] = "1048576",
            ["Relay:ReservationRateLimitPerIp:Permits"] = "5",
            ["Relay:ReservationRateLimitPerIp:Period"] = "00:00:10",
        }).Build();

        RelayServerOptions options = configuration.GetSection("Relay").Get<RelayServerOptions>()!;
        options.Validate();

        options.ReservationTtl.Should().Be(TimeSpan.FromMinutes(30));
        options.MaxReservations.Should().Be(64);
        options.MaxCircuitsPerPeer.Should().Be(4);
        options.GetCircuitLimit().Should().BeNull("both limits are zero: the relay is unlimited");
        options.MaxBandwidthPerPeer.Should().Be(1048576);
        options.ReservationRateLimitPerIp.Permits.Should().Be(5);
        options.ReservationRateLimitPerIp.Period.Should().Be(TimeSpan.FromSeconds(10));
        options.MaxReservationsPerIp.Should().Be(8, "unset keys keep their defaults");
    }

    [Fact]
    public void RelayClientOptions_BindFromConfiguration()
    {
        IConfiguration configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Client:RenewalFraction"] = "0.5",
            ["Client:AcceptBacklog"] = "4",
        }).Build();

        RelayClientOptions options = configuration.GetSection("Client").Get<RelayClientOptions>()!;
        options.Validate();

        options.RenewalFraction.Should().Be(0.5);
        options.AcceptBacklog.Should().Be(4);
        options.AcceptTimeout.Should().Be(TimeSpan.FromSeconds(10));
    }
}

public sealed class OptionsMonitorTests
{
    [Fact]
    public async Task RelayServer_WithOptionsMonitor_AppliesChangesWithoutRestart()
    {
        await using var fixture = RelayFixture.Create();
        var monitor = new TestOptionsMonitor(new RelayServerOptions { MaxReservations = 1 });
        await using var relay = new RelayServer(fixture.RelayHost, monitor, Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance, fixture.Meters, fixture.Time);
        relay.Options.MaxReservations.Should().Be(1);

        monitor.Set(new RelayServerOptions { MaxReservations = 5, CircuitDataLimit = 4096 });

        relay.Options.MaxReservations.Should().Be(5);
        relay.Options.GetCircuitLimit().Should().Be(new RelayLimit(TimeSpan.FromMinutes(2), 4096));
    }

    [Fact]
    public async Task RelayServer_MonitorPublishesInvalidOptions_KeepsTheOptionsInForce()
    {
        await using var fixture = RelayFixture.Create();
        var monitor = new TestOptionsMonitor(new RelayServerOptions());
        await using var relay = new RelayServer(fixture.RelayHost, monitor, Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance, fixture.Meters, fixture.Time);

        monitor.Set(new RelayServerOptions { MaxCircuits = -1 });

        relay.Options.MaxCircuits.Should().Be(1024, "invalid options are logged and not applied");
    }

    private sealed class TestOptionsMonitor(RelayServerOptions initial) : Microsoft.Extensions.Options.IOptionsMonitor<RelayServerOptions>
    {
        private readonly List<Action<RelayServerOptions, string?>> _listeners = [];

        public RelayServerOptions CurrentValue { get; private set; } = initial;

        public RelayServerOptions Get(string? name) => CurrentValue;

        public IDisposable OnChange(Action<RelayServerOptions, string?> listener)
        {
            _listeners.Add(listener);
            return new Subscription(() => _listeners.Remove(listener));
        }

        public void Set(RelayServerOptions options)
        {
            CurrentValue = options;
            foreach (var listener in _listeners.ToArray())
            {
                listener(options, null);
            }
        }

        private sealed class Subscription(Action dispose) : IDisposable
        {
            public void Dispose() => dispose();
        }
    }
}
