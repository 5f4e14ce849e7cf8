using System.Buffers;
using System.Diagnostics;
using System.IO.Pipelines;
using System.Security.Cryptography;
using CircuitRelay.Abstractions;

namespace CircuitRelay.Node;

/// <summary><c>/echo/1.0.0</c>: every byte comes back until the remote closes its write side, then the stream closes.</summary>
internal static class EchoProtocol
{
    public const string Id = "/echo/1.0.0";

    public static void Mount(ILibp2pHost host)
        => host.SetStreamHandler(Id, ServeAsync, new StreamHandlerOptions { AllowLimitedConnection = true });

    public static async Task ServeAsync(ILibp2pStream stream, CancellationToken cancellationToken)
    {
        try
        {
            while (true)
            {
                ReadResult result = await stream.Input.ReadAsync(cancellationToken);
                foreach (ReadOnlyMemory<byte> segment in result.Buffer)
                {
                    await stream.Output.WriteAsync(segment, cancellationToken);
                }

                stream.Input.AdvanceTo(result.Buffer.End);
                if (result.IsCompleted)
                {
                    break;
                }
            }

            await stream.Output.CompleteAsync();
            await stream.DisposeAsync();
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException)
        {
            stream.Abort();
            await stream.DisposeAsync();
        }
    }

    /// <summary>
    /// Bytes the client lets be on their way without having been echoed yet. The server has to hold whatever it cannot
    /// send back yet, and some hold little: a js-libp2p 3.3 stream resets once 4 MiB wait unread (see docs/interop.md).
    /// </summary>
    public const int MaxUnechoedBytes = 2 * 1024 * 1024;

    private const int ChunkSize = 64 * 1024;

    /// <summary>Sends <paramref name="size"/> random bytes, checks the echo byte for byte; returns the elapsed time.</summary>
    public static async Task<TimeSpan> RunAsync(ILibp2pHost host, PeerId peer, long size, CancellationToken cancellationToken)
    {
        ILibp2pStream stream = await host.OpenStreamAsync(peer, Id, new OpenStreamOptions { AllowLimitedConnection = true }, cancellationToken);
        await using (stream)
        {
            byte[] payload = RandomNumberGenerator.GetBytes(checked((int)size));
            var echoed = new EchoProgress();
            using var stopSending = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            CancellationToken sendToken = stopSending.Token;
            var stopwatch = Stopwatch.StartNew();
            Task send = Task.Run(
                async () =>
                {
                    for (int sent = 0; sent < size;)
                    {
                        int n = (int)Math.Min(ChunkSize, size - sent);
                        await echoed.WaitUntilAsync(sent + n - MaxUnechoedBytes, sendToken);
                        FlushResult flush = await stream.Output.WriteAsync(payload.AsMemory(sent, n), sendToken);
                        if (flush.IsCompleted)
                        {
                            throw new IOException("the remote stopped reading");
                        }

                        sent += n;
                    }

                    await stream.Output.CompleteAsync();
                },
                sendToken);

            try
            {
                await ReceiveAsync(stream, payload, echoed, cancellationToken);
            }
            catch
            {
                // The echo failed: stop the sender too (it may be waiting for echoed bytes that will not come).
                await stopSending.CancelAsync();
                throw;
            }

            await send;
            return stopwatch.Elapsed;
        }
    }

    private static async Task ReceiveAsync(ILibp2pStream stream, byte[] payload, EchoProgress echoed, CancellationToken cancellationToken)
    {
        long size = payload.Length;
        long received = 0;
        while (true)
        {
            ReadResult result;
            try
            {
                result = await stream.Input.ReadAsync(cancellationToken);
            }
            catch (IOException ex)
            {
                throw new IOException($"echo stream reset after {received} of {size} bytes: {ex.Message}", ex);
            }

            foreach (ReadOnlyMemory<byte> segment in result.Buffer)
            {
                ReadOnlySpan<byte> span = segment.Span;
                if (received + span.Length > size || !span.SequenceEqual(payload.AsSpan((int)received, span.Length)))
                {
                    throw new InvalidDataException($"the echo differs from what was sent, after byte {received}");
                }

                received += span.Length;
            }

            stream.Input.AdvanceTo(result.Buffer.End);
            echoed.Report(received);
            if (result.IsCompleted)
            {
                break;
            }
        }

        if (received != size)
        {
            throw new IOException($"echo stream ended after {received} of {size} bytes");
        }
    }

    /// <summary>How many bytes have come back, for the sender to wait on.</summary>
    private sealed class EchoProgress
    {
        private readonly Lock _lock = new();
        private long _echoed;
        private long _waitingFor = long.MaxValue;
        private TaskCompletionSource? _waiter;

        /// <summary>Completes once at least <paramref name="bytes"/> bytes have been echoed (at once when that is ≤ 0).</summary>
        public Task WaitUntilAsync(long bytes, CancellationToken cancellationToken)
        {
            lock (_lock)
            {
                if (_echoed >= bytes)
                {
                    return Task.CompletedTask;
                }

                _waiter = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                _waitingFor = bytes;
                return _waiter.Task.WaitAsync(cancellationToken);
            }
        }

        public void Report(long echoed)
        {
            TaskCompletionSource? release = null;
            lock (_lock)
            {
                _echoed = echoed;
                if (_waiter is not null && echoed >= _waitingFor)
                {
                    release = _waiter;
                    _waiter = null;
                    _waitingFor = long.MaxValue;
                }
            }

            release?.TrySetResult();
        }
    }
}
