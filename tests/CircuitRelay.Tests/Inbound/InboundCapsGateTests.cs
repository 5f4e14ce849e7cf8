using CircuitRelay.Abstractions;
using CircuitRelay.Tests.Relay;
using CircuitRelay.Adverts;
using CircuitRelay.Inbound;
using CircuitRelay.Tests.Infrastructure;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;

namespace CircuitRelay.Tests.Inbound;

/// <summary>The inbound caps on reference hosts over the memory transport.</summary>
public sealed class InboundCapsGateTests
{
    [Fact]
    public async Task PerRelay_OneMoreCircuitThroughTheSameRelay_IsRefusedWithResourceLimitExceeded()
    {
        await using var fixture = RelayFixture.CreateUnlimited();
        var (target, _) = await fixture.CreateHostListenerAsync();
        using var gate = new InboundCapsGate(target.Host, new InboundCapsOptions { PerRelay = 1 }, () => NodeRole.Private, fixture.Logs.Factory, fixture.Meters);
        using MetricCollector<long> refused = fixture.Meters.Collect<long>("CircuitRelay", "libp2p.inbound.refused");
        ConnectionInfo first = await fixture.CreateNode().Host.DialAsync(fixture.CircuitAddressOf(target)).Within();
        first.IsRelayed.Should().BeTrue();
        await ListenerTests.WaitUntilAsync(() => target.Host.Connections.Any(c => c.IsRelayed));

        Func<Task> second = () => fixture.CreateNode().Host.DialAsync(fixture.CircuitAddressOf(target)).AsTask();

        await second.Should().ThrowAsync<IOException>();
        refused.GetMeasurementSnapshot().Should().ContainSingle().Which.Tags["reason"].Should().Be("per_relay");
        fixture.Logs.Events(700).Should().ContainSingle().Which.Message.Should().Contain("PerRelay 1");
    }

    [Fact]
    public async Task WhilePrivate_OneMoreInboundConnection_IsRefusedAndNotWhilePublic()
    {
        await using var fixture = RelayFixture.Create();
        TestNode node = fixture.CreatePublicNode("192.0.2.10");
        NodeRole role = NodeRole.Private;
        using var gate = new InboundCapsGate(node.Host, new InboundCapsOptions { WhilePrivate = 1 }, () => role, fixture.Logs.Factory, fixture.Meters);
        await fixture.CreatePublicNode("192.0.2.11").Host.DialAsync(node.Address).Within();
        await ListenerTests.WaitUntilAsync(() => node.Host.Connections.Count(c => c.Direction == ConnectionDirection.Inbound) == 1);

        TestNode refusedPeer = fixture.CreatePublicNode("192.0.2.12");
        try
        {
            // The dialer may finish its side of the handshake before the node refuses it after its own.
            await refusedPeer.Host.DialAsync(node.Address).AsTask().Within();
        }
        catch (IOException)
        {
        }

        await ListenerTests.WaitUntilAsync(() => fixture.Logs.Events(700).Count == 1);
        node.Host.GetConnections(refusedPeer.Id).Should().BeEmpty("the second inbound connection is refused while private");

        role = NodeRole.Public;
        await fixture.CreatePublicNode("192.0.2.13").Host.DialAsync(node.Address).Within();
        await ListenerTests.WaitUntilAsync(() => node.Host.Connections.Count(c => c.Direction == ConnectionDirection.Inbound) == 2);
    }
}
