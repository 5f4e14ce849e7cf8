using CircuitRelay.Abstractions;
using CircuitRelay.ReferenceHost.Yamux;

namespace CircuitRelay.ReferenceHost;

/// <summary>An upgraded connection: raw transport connection, security session (Noise; none for plaintext), Yamux session.</summary>
internal sealed class HostConnection(ConnectionInfo info, ITransportConnection raw, IAsyncDisposable? security, YamuxSession muxer, CancellationTokenSource closed, bool countsInbound, TimeProvider time)
{
    private int _closed;

    public ConnectionInfo Info { get; } = info;

    public YamuxSession Muxer { get; } = muxer;

    /// <summary>Whether the connection holds a place under <see cref="Libp2pHostOptions.MaxInboundConnections"/>.</summary>
    public bool CountsInbound { get; } = countsInbound;

    /// <summary>Since when the idle sweep has seen the connection without a stream; <see langword="null"/> while it carries one.</summary>
    public DateTimeOffset? IdleSince { get; set; }

    /// <summary>Whether <see cref="CloseAsync"/> has begun.</summary>
    public bool IsClosing => Volatile.Read(ref _closed) != 0;

    /// <summary>The task that serves the connection's inbound streams and forgets it when it ends.</summary>
    public Task? Served { get; set; }

    /// <summary>Cancels <see cref="ConnectionInfo.Closed"/> (once the host has forgotten the connection).</summary>
    public void SignalClosed() => closed.Cancel();

    /// <summary>
    /// Closes the connection in order (idempotent): Yamux Go Away, then the security session's last frames and its
    /// half-close, then the transport connection gracefully, so a relayed connection ends its circuit as closed, not
    /// reset. A connection whose half-close does not get through within <see cref="GracefulCloseTimeout"/> (a peer that
    /// stopped reading) is aborted.
    /// </summary>
    public async ValueTask CloseAsync()
    {
        if (Interlocked.Exchange(ref _closed, 1) != 0)
        {
            return;
        }

        await Muxer.DisposeAsync().ConfigureAwait(false);
        bool graceful = true;
        if (security is Noise.NoiseSession noise)
        {
            graceful = await CompletesWithinAsync(noise.OutputClosed).ConfigureAwait(false);
            if (graceful && noise.DrainInputAfterCompletion)
            {
                // A circuit closes in order only when both halves did: wait (bounded) for the peer's half-close to come
                // back through the relay before the connection to the relay may go too.
                graceful = await CompletesWithinAsync(noise.InputEnded).ConfigureAwait(false);
            }
        }

        if (security is not null)
        {
            await security.DisposeAsync().ConfigureAwait(false);
        }

        if (!graceful)
        {
            raw.Abort();
        }

        await raw.DisposeAsync().ConfigureAwait(false);
    }

    private async Task<bool> CompletesWithinAsync(Task task)
    {
        try
        {
            await task.WaitAsync(GracefulCloseTimeout, time).ConfigureAwait(false);
            return true;
        }
        catch (TimeoutException)
        {
            return false;
        }
    }

    /// <summary>How long a closing connection waits for its last frames to be handed to the transport .</summary>
    internal static TimeSpan GracefulCloseTimeout { get; } = TimeSpan.FromSeconds(2);
}
