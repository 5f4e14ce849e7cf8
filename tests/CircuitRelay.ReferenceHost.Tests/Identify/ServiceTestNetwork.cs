using System.IO.Pipelines;
using CircuitRelay.Crypto;
using CircuitRelay.Abstractions;
using CircuitRelay.InMemory;
using CircuitRelay.ReferenceHost.Tests.TestSupport;

namespace CircuitRelay.ReferenceHost.Tests.Identify;

/// <summary>An in-memory network whose hosts and identities are disposed with it (shared by the Identify and Ping tests).</summary>
internal sealed class ServiceTestNetwork : IAsyncDisposable
{
    private readonly List<KeyIdentity> _identities = [];
    private readonly List<IAsyncDisposable> _services = [];

    public InMemoryNetwork Network { get; } = new();

    public InMemoryHost CreateHost(string? ip = null)
    {
        var identity = KeyIdentity.Generate();
        _identities.Add(identity);
        return Network.CreateHost(identity, SignatureVerifier.Default, ip);
    }

    /// <summary>Registers a service to dispose before the hosts.</summary>
    public T Track<T>(T service)
        where T : IAsyncDisposable
    {
        _services.Add(service);
        return service;
    }

    /// <summary>
    /// Connects <paramref name="dialer"/> to <paramref name="listener"/> over a limited relayed connection
    /// (two crossed pipes upgraded on both sides at once).
    /// </summary>
    public static async Task<RelayedConnection> ConnectRelayedAsync(InMemoryHost dialer, InMemoryHost listener)
    {
        using var relay = KeyIdentity.Generate();
        Multiaddr circuit = Multiaddr.Parse($"/ip4/10.250.0.1/tcp/4001/p2p/{relay.PeerId}/p2p-circuit");
        (DuplexPipe atDialer, DuplexPipe atListener) = DuplexPipe.CreatePair();
        var limit = new RelayLimit(TimeSpan.FromMinutes(2), 131072);
        Task<ConnectionInfo> dial = dialer.AddConnectionAsync(atDialer, listener.PeerId, circuit, ConnectionDirection.Outbound, isRelayed: true, limit).AsTask();
        Task<ConnectionInfo> accept = listener.AddConnectionAsync(atListener, dialer.PeerId, circuit, ConnectionDirection.Inbound, isRelayed: true, limit).AsTask();
        ConnectionInfo[] both = await Task.WhenAll(dial, accept).Within();
        return new RelayedConnection(both[0], both[1], atDialer);
    }

    public async ValueTask DisposeAsync()
    {
        foreach (IAsyncDisposable service in _services)
        {
            await service.DisposeAsync();
        }

        await Network.DisposeAsync();
        foreach (KeyIdentity identity in _identities)
        {
            identity.Dispose();
        }
    }
}

/// <summary>Both ends of a relayed in-memory connection.</summary>
/// <param name="AtDialer">The dialer's description.</param>
/// <param name="AtListener">The listener's description.</param>
/// <param name="RawAtDialer">The dialer's raw pipe: cancelling its pending read closes the connection on both sides.</param>
internal sealed record RelayedConnection(ConnectionInfo AtDialer, ConnectionInfo AtListener, DuplexPipe RawAtDialer)
{
    /// <summary>Closes just this connection (the dialer's reader stops, both hosts raise ConnectionClosed).</summary>
    public void Sever() => RawAtDialer.Input.CancelPendingRead();
}
