using System.Net;
using CircuitRelay.Abstractions;
using CircuitRelay.Crypto;
using CircuitRelay.ReferenceHost.Transports.Memory;
using Microsoft.Extensions.Logging.Abstractions;

namespace CircuitRelay.ReferenceHost.Tests.Host;

/// <summary>The host over the memory transport, with Noise (the default) and with /plaintext/2.0.0.</summary>
public sealed class MemoryHostTests : IAsyncLifetime
{
    private readonly MemoryNetwork _network = new();
    private readonly HostTestKit _kit = new();

    [Theory]
    [InlineData(SecurityProtocol.Noise)]
    [InlineData(SecurityProtocol.Plaintext)]
    public async Task Dial_OverMemoryTransport_AuthenticatesAndEchoes(SecurityProtocol security)
    {
        Libp2pHost a = await StartAsync("198.51.100.1", security);
        Libp2pHost b = await StartAsync("198.51.100.2", security);

        ConnectionInfo connection = await a.DialAsync(HostTestKit.AddressOf(b)).Within();

        connection.RemotePeer.Should().Be(b.Identity.PeerId);
        connection.RemoteAddress.ToString().Should().Be("/ip4/198.51.100.2/tcp/4001");
        (await HostTestKit.EchoRoundTripAsync(a, b.Identity.PeerId, 1024 * 1024).Within()).Should().BeTrue();
        b.GetConnections(a.Identity.PeerId).Should().ContainSingle()
            .Which.RemoteAddress.ToString().Should().StartWith("/ip4/198.51.100.1/tcp/", "the acceptor sees the dialer's own address");
    }

    [Theory]
    [InlineData(SecurityProtocol.Noise)]
    [InlineData(SecurityProtocol.Plaintext)]
    public async Task Dial_PeerIdOfAnotherNode_FailsAndKeepsNoConnection(SecurityProtocol security)
    {
        Libp2pHost a = await StartAsync("198.51.100.1", security);
        Libp2pHost b = await StartAsync("198.51.100.2", security);
        PeerId impostor = KeyIdentity.Generate().PeerId;

        Func<Task> dial = async () => await a.DialAsync(b.ListenAddresses[0].WithPeerId(impostor)).Within();

        await dial.Should().ThrowAsync<Exception>();
        a.Connections.Should().BeEmpty();
    }

    [Fact]
    public async Task Dial_SecurityMismatch_FailsOnBothSides()
    {
        Libp2pHost noise = await StartAsync("198.51.100.1", SecurityProtocol.Noise);
        Libp2pHost plaintext = await StartAsync("198.51.100.2", SecurityProtocol.Plaintext);

        Func<Task> dial = async () => await plaintext.DialAsync(HostTestKit.AddressOf(noise)).Within();

        await dial.Should().ThrowAsync<IOException>();
        plaintext.Connections.Should().BeEmpty();
        noise.Connections.Should().BeEmpty();
    }

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        await _kit.DisposeAsync();
        _network.Dispose();
    }

    private Task<Libp2pHost> StartAsync(string ip, SecurityProtocol security)
    {
        MemoryTransport transport = _network.AddNode(IPAddress.Parse(ip));
        return _kit.StartAsync(listen: false, configure: o =>
        {
            o.Transports.Add(transport);
            o.ListenAddresses.Add($"/ip4/{ip}/tcp/4001");
            o.Security = security;
        });
    }
}
