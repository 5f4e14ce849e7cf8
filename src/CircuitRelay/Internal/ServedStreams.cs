using CircuitRelay.Abstractions;

namespace CircuitRelay.Internal;

/// <summary>
/// The inbound streams a protocol service serves until it is disposed: each runs tracked, with a token that the host's
/// shutdown or the service's disposal cancels; a stream that arrives once disposal began is reset. Disposal cancels what
/// runs and waits for it. (The AutoNAT servers and the v2 client's dial-back handler share it.)
/// </summary>
internal sealed class ServedStreams : IAsyncDisposable
{
    private readonly TaskTracker _running = new();
    private readonly CancellationTokenSource _shutdown = new();

    /// <summary>Runs <paramref name="serve"/> for <paramref name="stream"/>, or resets the stream when disposed.</summary>
    public Task Serve(ILibp2pStream stream, CancellationToken hostToken, Func<ILibp2pStream, CancellationToken, Task> serve)
        => _running.TryRun(() => RunAsync(stream, hostToken, serve)) ?? ResetAsync(stream);

    /// <summary>Cancels the streams being served and waits for them. Idempotent.</summary>
    public async ValueTask DisposeAsync()
    {
        if (!_shutdown.IsCancellationRequested)
        {
            await _shutdown.CancelAsync().ConfigureAwait(false);
        }

        await _running.CloseAsync().ConfigureAwait(false);
    }

    private async Task RunAsync(ILibp2pStream stream, CancellationToken hostToken, Func<ILibp2pStream, CancellationToken, Task> serve)
    {
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(hostToken, _shutdown.Token);
        await serve(stream, linked.Token).ConfigureAwait(false);
    }

    private static async Task ResetAsync(ILibp2pStream stream)
    {
        stream.Abort();
        await stream.DisposeAsync().ConfigureAwait(false);
    }
}
