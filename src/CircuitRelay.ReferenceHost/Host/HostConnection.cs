using CircuitRelay.Abstractions;
using CircuitRelay.ReferenceHost.Noise;
using CircuitRelay.ReferenceHost.Yamux;

namespace CircuitRelay.ReferenceHost;

/// <summary>An upgraded connection: raw transport, Noise session, Yamux session.</summary>
internal sealed class HostConnection(ConnectionInfo info, IAsyncDisposable raw, Action abortRaw, NoiseSession noise, YamuxSession muxer)
{
    private int _closed;

    public ConnectionInfo Info { get; } = info;

    public NoiseSession Noise { get; } = noise;

    public YamuxSession Muxer { get; } = muxer;

    /// <summary>Closes the connection (idempotent).</summary>
    public async ValueTask CloseAsync()
    {
        if (Interlocked.Exchange(ref _closed, 1) != 0)
        {
            return;
        }

        await Muxer.DisposeAsync().ConfigureAwait(false);
        await Noise.DisposeAsync().ConfigureAwait(false);
        abortRaw();
        await raw.DisposeAsync().ConfigureAwait(false);
    }
}
