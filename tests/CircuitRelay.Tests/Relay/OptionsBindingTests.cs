using CircuitRelay.Client;
using CircuitRelay.Server;
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
