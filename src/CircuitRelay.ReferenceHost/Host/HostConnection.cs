using CircuitRelay.Abstractions;
using CircuitRelay.ReferenceHost.Noise;
using CircuitRelay.ReferenceHost.Yamux;

namespace CircuitRelay.ReferenceHost;

/// <summary>An upgraded connection: raw transport connection, Noise session, Yamux session.</summary>
internal sealed class HostConnection(ConnectionInfo info, ITransportConnection raw, NoiseSession noise, YamuxSession muxer, CancellationTokenSource closed, bool countsInbound)
{
    private int _closed;

    public ConnectionInfo Info { get; } = info;

    public NoiseSession Noise { get; } = noise;

    public YamuxSession Muxer { get; } = muxer;

    /// <summary>Whether the connection holds a place under <see cref="Libp2pHostOptions.MaxInboundConnections"/>.</summary>
    public bool CountsInbound { get; } = countsInbound;

    /// <summary>The task that serves the connection's inbound streams and forgets it when it ends.</summary>
    public Task? Served { get; set; }

    /// <summary>Cancels <see cref="ConnectionInfo.Closed"/> (once the host has forgotten the connection).</summary>
    public void SignalClosed() => closed.Cancel();

    /// <summary>Closes the connection (idempotent).</summary>
    public async ValueTask CloseAsync()
    {
        if (Interlocked.Exchange(ref _closed, 1) != 0)
        {
            return;
        }

        await Muxer.DisposeAsync().ConfigureAwait(false);
        await Noise.DisposeAsync().ConfigureAwait(false);
        raw.Abort();
        await raw.DisposeAsync().ConfigureAwait(false);
    }
}
