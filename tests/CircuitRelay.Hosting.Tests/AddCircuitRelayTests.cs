using CircuitRelay;
using CircuitRelay.Abstractions;
using CircuitRelay.Hosting;
using CircuitRelay.Server;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace CircuitRelay.Hosting.Tests;

/// <summary>
/// <c>services.AddCircuitRelay(configuration)</c> in real applications (<see cref="HostApplicationBuilder"/>) over
/// loopback TCP: a relay and a private node from configuration alone, validation at start naming the key, a reload
/// applied to the running relay, a host of one's own.
/// </summary>
public sealed class AddCircuitRelayTests : IAsyncLifetime
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);
    private readonly List<IHost> _apps = [];

    [Fact]
    public async Task RelayAndPrivateNode_FromConfigurationAlone_ThePrivateNodeReservesOnTheRelay()
    {
        (IHost relayApp, CircuitRelayNode relay) = await StartAsync(
            new() { ["CircuitRelay:Host:ListenAddresses:0"] = "/ip4/127.0.0.1/tcp/0", ["CircuitRelay:Node:RelayService"] = "On" },
            b => b.AddRelayServer());
        relay.Relay.Should().NotBeNull("RelayService On serves from the start");
        var reserved = new TaskCompletionSource<PeerId>(TaskCreationOptions.RunContinuationsAsynchronously);
        relay.Relay!.ReservationChanged += (_, e) =>
        {
            if (e.Kind == ReservationEventKind.Accepted)
            {
                reserved.TrySetResult(e.Peer);
            }
        };
        string relayAddress = relay.Host.Addresses[0].WithPeerId(relay.Host.Identity.PeerId).ToString();

        (IHost _, CircuitRelayNode node) = await StartAsync(
            new() { ["CircuitRelay:Node:StaticRelays:0"] = relayAddress, ["CircuitRelay:AutoRelay:DesiredReservations"] = "0" },
            b => b.AddAutoRelay());

        (await reserved.Task.WaitAsync(Bound)).Should().Be(node.Host.Identity.PeerId);
        node.AutoRelay.Should().NotBeNull();
        node.Role.Should().Be(CircuitRelay.Adverts.NodeRole.Unknown, "without AutoNAT or a forced role the node stays unknown and reserves");
        await relayApp.StopAsync().WaitAsync(Bound);
        relay.Relay.GetStatistics().ActiveReservations.Should().Be(0, "stopping the application released the relay with the host");
    }

    [Fact]
    public async Task Stop_WithACircuitRunning_RefusesReservationsAndGivesTheCircuitTheShutdownTimeout()
    {
        (IHost relayApp, CircuitRelayNode relay) = await StartAsync(
            new()
            {
                ["CircuitRelay:Host:ListenAddresses:0"] = "/ip4/127.0.0.1/tcp/0",
                ["CircuitRelay:Node:RelayService"] = "On",
                ["CircuitRelay:Node:ShutdownTimeout"] = "00:00:01",
            },
            b => b.AddRelayServer());
        var reserved = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        relay.Relay!.ReservationChanged += (_, e) =>
        {
            if (e.Kind == ReservationEventKind.Accepted)
            {
                reserved.TrySetResult();
            }
        };
        Multiaddr relayAddress = relay.Host.Addresses[0].WithPeerId(relay.Host.Identity.PeerId);
        (IHost _, CircuitRelayNode target) = await StartAsync(
            new() { ["CircuitRelay:Node:StaticRelays:0"] = relayAddress.ToString(), ["CircuitRelay:AutoRelay:DesiredReservations"] = "0" },
            b => b.AddAutoRelay());
        await reserved.Task.WaitAsync(Bound);
        (IHost _, CircuitRelayNode dialer) = await StartAsync(new(), _ => { });
        var closed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        dialer.Host.ConnectionClosed += (_, e) =>
        {
            if (e.Connection.IsRelayed)
            {
                closed.TrySetResult();
            }
        };
        ConnectionInfo circuit = await dialer.Host.GetRequiredFeature<IDialFeature>("test")
            .DialAsync(Multiaddr.CreateCircuit(relay.Host.Addresses[0], relay.Host.Identity.PeerId, target.Host.Identity.PeerId)).AsTask().WaitAsync(Bound);
        circuit.IsRelayed.Should().BeTrue();
        relay.Relay.GetStatistics().ActiveCircuits.Should().Be(1);

        var stopwatch = System.Diagnostics.Stopwatch.StartNew();
        await relayApp.StopAsync().WaitAsync(Bound);

        stopwatch.Elapsed.Should().BeGreaterThanOrEqualTo(TimeSpan.FromSeconds(0.9), "the running circuit gets the whole shutdown timeout");
        relay.Relay.AcceptingReservations.Should().BeFalse("a stopping relay grants nothing new");
        await closed.Task.WaitAsync(Bound);
    }

    [Theory]
    [InlineData("CircuitRelay:RelayServer:ReservationTtl", "00:00:00", "CircuitRelay:RelayServer:ReservationTtl")]
    [InlineData("CircuitRelay:Node:RelayCandidates:0", "not-a-multiaddr", "CircuitRelay:Node:RelayCandidates")]
    [InlineData("CircuitRelay:Host:ListenAddresses:0", "/ip4/127.0.0.1/tcp/x", "CircuitRelay:Host:ListenAddresses")]
    [InlineData("CircuitRelay:AutoNat:Confidence", "0", "CircuitRelay:AutoNat:Confidence")]
    public async Task Start_InvalidValue_FailsNamingTheKey(string key, string value, string named)
    {
        IHost app = Build(new() { [key] = value }, b => b.AddRelayServer().AddAutoRelay().AddAutoNat());

        Func<Task> start = () => app.StartAsync().WaitAsync(Bound);

        (await start.Should().ThrowAsync<OptionsValidationException>()).Which.Message.Should().Contain(named);
    }

    [Fact]
    public async Task Reload_RelayCapChanged_AppliedToTheRunningRelay()
    {
        var settings = new Dictionary<string, string?>
        {
            ["CircuitRelay:Host:ListenAddresses:0"] = "/ip4/127.0.0.1/tcp/0",
            ["CircuitRelay:Node:RelayService"] = "On",
        };
        HostApplicationBuilder builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Configuration.AddInMemoryCollection(settings);
        builder.Services.AddCircuitRelay(builder.Configuration).AddRelayServer();
        IHost app = builder.Build();
        _apps.Add(app);
        await app.StartAsync().WaitAsync(Bound);
        CircuitRelayNode relay = app.Services.GetRequiredService<CircuitRelayNode>();
        string relayAddress = relay.Host.Addresses[0].WithPeerId(relay.Host.Identity.PeerId).ToString();

        builder.Configuration["CircuitRelay:RelayServer:MaxReservations"] = "1";
        ((IConfigurationRoot)builder.Configuration).Reload();

        // A cap of one: the second node is refused, so the reloaded cap reached the relay that was already running.
        (IHost _, CircuitRelayNode first) = await StartAsync(new(), _ => { });
        (IHost _, CircuitRelayNode second) = await StartAsync(new(), _ => { });
        await first.Client.ReserveAsync(relay.Host.Identity.PeerId, [Multiaddr.Parse(relayAddress)]).WaitAsync(Bound);
        Func<Task> reserve = () => second.Client.ReserveAsync(relay.Host.Identity.PeerId, [Multiaddr.Parse(relayAddress)]).WaitAsync(Bound);
        (await reserve.Should().ThrowAsync<RelayException>()).Which.Status.Should().Be(RelayStatus.ReservationRefused);
    }

    [Fact]
    public async Task UseHost_AHostOfOnesOwn_IsTheNodesAndIsDisposedAtStop()
    {
        CircuitRelay.ReferenceHost.Libp2pHost? own = null;
        CircuitRelay.Transport.CircuitTransport? handed = null;
        (IHost app, CircuitRelayNode node) = await StartAsync(
            new(),
            b => b.UseHost(
                async (_, cancellationToken) =>
                {
                    var options = new CircuitRelay.ReferenceHost.Libp2pHostOptions();
                    options.ListenAddresses.Add("/ip4/127.0.0.1/tcp/0");
                    own = await CircuitRelay.ReferenceHost.Libp2pHost.StartAsync(CircuitRelay.Crypto.KeyIdentity.Generate(), options, Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance, TimeProvider.System, cancellationToken);
                    return own;
                },
                (host, transport) =>
                {
                    handed = transport;
                    ((CircuitRelay.ReferenceHost.Libp2pHost)host).AddTransport(transport);
                }));

        node.Host.Should().BeSameAs(own);
        handed.Should().NotBeNull("the host of one's own is handed the circuit transport over the node's client");
        await app.StopAsync().WaitAsync(Bound);
        Func<Task> afterStop = () => own!.OpenStreamAsync(node.Host.Identity.PeerId, "/x").AsTask();
        await afterStop.Should().ThrowAsync<ObjectDisposedException>();
    }

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        for (int i = _apps.Count - 1; i >= 0; i--)
        {
            try
            {
                await _apps[i].StopAsync().WaitAsync(Bound);
            }
            catch (OptionsValidationException)
            {
                // Never started.
            }

            _apps[i].Dispose();
        }
    }

    private IHost Build(Dictionary<string, string?> settings, Action<CircuitRelayBuilder> configure)
    {
        HostApplicationBuilder builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Configuration.AddInMemoryCollection(settings);
        configure(builder.Services.AddCircuitRelay(builder.Configuration));
        IHost app = builder.Build();
        _apps.Add(app);
        return app;
    }

    private async Task<(IHost App, CircuitRelayNode Node)> StartAsync(Dictionary<string, string?> settings, Action<CircuitRelayBuilder> configure)
    {
        IHost app = Build(settings, configure);
        await app.StartAsync().WaitAsync(Bound);
        CircuitRelayNode node = app.Services.GetRequiredService<CircuitRelayNode>();
        await node.Started.WaitAsync(Bound);
        return (app, node);
    }
}
