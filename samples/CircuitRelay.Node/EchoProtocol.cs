using System.Buffers;
using System.Diagnostics;
using System.IO.Pipelines;
using System.Security.Cryptography;
using CircuitRelay.Hosting;

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
        catch (Exception ex) when (ex is IOException or OperationCanceledException or InvalidOperationException)
        {
            stream.Abort();
            await stream.DisposeAsync();
        }
    }

    /// <summary>Sends <paramref name="size"/> random bytes, checks the echo byte for byte; returns the elapsed time.</summary>
    public static async Task<TimeSpan> RunAsync(ILibp2pHost host, PeerId peer, long size, CancellationToken cancellationToken)
    {
        ILibp2pStream stream = await host.OpenStreamAsync(peer, Id, new OpenStreamOptions { AllowLimitedConnection = true }, cancellationToken);
        await using (stream)
        {
            byte[] payload = RandomNumberGenerator.GetBytes(checked((int)size));
            var stopwatch = Stopwatch.StartNew();
            Task send = Task.Run(
                async () =>
                {
                    for (int sent = 0; sent < size;)
                    {
                        int n = (int)Math.Min(64 * 1024, size - sent);
                        FlushResult flush = await stream.Output.WriteAsync(payload.AsMemory(sent, n), cancellationToken);
                        if (flush.IsCompleted)
                        {
                            throw new IOException("the remote stopped reading");
                        }

                        sent += n;
                    }

                    await stream.Output.CompleteAsync();
                },
                cancellationToken);

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
                if (result.IsCompleted)
                {
                    break;
                }
            }

            if (received != size)
            {
                throw new IOException($"echo stream ended after {received} of {size} bytes");
            }

            await send;
            return stopwatch.Elapsed;
        }
    }
}
