using CircuitRelay.Abstractions;
using CircuitRelay.ReferenceHost.Identify;
using CircuitRelay.ReferenceHost.Ping;
using Microsoft.Extensions.Logging;

namespace CircuitRelay.ReferenceHost;

public sealed partial class Libp2pHost
{
    private IdentifyService? _identify;
    private PingService? _ping;

    /// <summary>Pings <paramref name="peer"/> over <c>/ipfs/ping/1.0.0</c> and returns the round-trip time.</summary>
    /// <exception cref="TimeoutException">No echo within 10 seconds.</exception>
    /// <exception cref="InvalidDataException">The echo differed from what was sent.</exception>
    public Task<TimeSpan> PingAsync(PeerId peer, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_ping is null || Volatile.Read(ref _disposed) != 0, this);
        return _ping.PingAsync(peer, cancellationToken);
    }

    /// <summary>Identify (which feeds the peer store and the observed addresses, and pushes address changes) and Ping.</summary>
    private void StartServices()
    {
        _identify = new IdentifyService(this, () => Protocols, _options.AgentVersion, _loggerFactory.CreateLogger<IdentifyService>(), _time);
        _identify.Start();
        _ping = new PingService(this, _loggerFactory.CreateLogger<PingService>(), _time);
        _ping.Start();
        ConnectionOpened += OnConnectionOpenedIdentify;
    }

    private async ValueTask StopServicesAsync()
    {
        ConnectionOpened -= OnConnectionOpenedIdentify;
        if (_identify is not null)
        {
            await _identify.DisposeAsync().ConfigureAwait(false);
        }

        if (_ping is not null)
        {
            await _ping.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>Every new connection is identified in the background, in both directions (as go does).</summary>
    private void OnConnectionOpenedIdentify(object? sender, ConnectionEventArgs e) => Track(IdentifyInBackgroundAsync(e.Connection.RemotePeer));

    private async Task IdentifyInBackgroundAsync(PeerId peer)
    {
        await Task.Yield();
        try
        {
            await _identify!.IdentifyAsync(peer, _shutdown.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or InvalidDataException or TimeoutException or OperationCanceledException or ObjectDisposedException)
        {
            // Not every peer speaks identify; the connection stays usable.
        }
    }
}
