using System.Buffers;
using System.IO.Pipelines;
using BenchmarkDotNet.Attributes;
using CircuitRelay.Crypto;
using CircuitRelay.Abstractions;
using CircuitRelay.Server;

namespace CircuitRelay.Benchmarks;

/// <summary>
/// The relay's splice against a bare bidirectional copy loop with the same chunk size, both moving
/// <see cref="MiB"/> MiB each way between in-memory pipes. The harness (producers and consumers) is the same
/// for both, so the ratio isolates the splice's own cost (limit accounting, bandwidth bucket, counters).
/// </summary>
[MemoryDiagnoser]
public class SpliceBenchmarks
{
    private static readonly byte[] Chunk = new byte[64 * 1024];
    private static readonly ConnectionInfo Connection = new("bench", KeyIdentity.Generate().PeerId, Multiaddr.Parse("/ip4/127.0.0.1/tcp/1"), ConnectionDirection.Inbound);

    [Params(16 * 1024)]
    public int BufferSize { get; set; }

    [Params(64)]
    public int MiB { get; set; }

    [Benchmark(Baseline = true)]
    public Task BareCopy() => RunAsync(static (a, b, size) =>
    {
        Task up = CopyAsync(a.Input, b.Output, size);
        Task down = CopyAsync(b.Input, a.Output, size);
        return Task.WhenAll(up, down);
    });

    [Benchmark]
    public Task Splice() => RunAsync(static (a, b, size) =>
        new CircuitSplice(a, b, limit: null, size, TimeProvider.System, CancellationToken.None).RunAsync());

    [Benchmark]
    public Task SpliceWithLimit() => RunAsync(static (a, b, size) =>
        new CircuitSplice(a, b, new RelayLimit(TimeSpan.FromHours(1), ulong.MaxValue / 2), size, TimeProvider.System, CancellationToken.None).RunAsync());

    private async Task RunAsync(Func<ILibp2pStream, ILibp2pStream, int, Task> relay)
    {
        // source <-> relay side A ... relay side B <-> target
        var sourceToRelay = new Pipe();
        var relayToSource = new Pipe();
        var targetToRelay = new Pipe();
        var relayToTarget = new Pipe();
        var a = new PipeStream(sourceToRelay.Reader, relayToSource.Writer, Connection);
        var b = new PipeStream(targetToRelay.Reader, relayToTarget.Writer, Connection);
        long total = (long)MiB * 1024 * 1024;

        Task middle = relay(a, b, BufferSize);
        Task produceUp = ProduceAsync(sourceToRelay.Writer, total);
        Task produceDown = ProduceAsync(targetToRelay.Writer, total);
        Task consumeUp = ConsumeAsync(relayToTarget.Reader);
        Task consumeDown = ConsumeAsync(relayToSource.Reader);
        await Task.WhenAll(produceUp, produceDown, consumeUp, consumeDown, middle).ConfigureAwait(false);
    }

    private static async Task ProduceAsync(PipeWriter writer, long total)
    {
        for (long sent = 0; sent < total; sent += Chunk.Length)
        {
            await writer.WriteAsync(Chunk).ConfigureAwait(false);
        }

        await writer.CompleteAsync().ConfigureAwait(false);
    }

    private static async Task ConsumeAsync(PipeReader reader)
    {
        while (true)
        {
            ReadResult result = await reader.ReadAsync().ConfigureAwait(false);
            reader.AdvanceTo(result.Buffer.End);
            if (result.IsCompleted)
            {
                await reader.CompleteAsync().ConfigureAwait(false);
                return;
            }
        }
    }

    /// <summary>The baseline: read, copy at most <paramref name="size"/> bytes, flush, repeat; pass the half-close on.</summary>
    private static async Task CopyAsync(PipeReader input, PipeWriter output, int size)
    {
        while (true)
        {
            ReadResult result = await input.ReadAsync().ConfigureAwait(false);
            ReadOnlySequence<byte> buffer = result.Buffer;
            if (!buffer.IsEmpty)
            {
                ReadOnlySequence<byte> chunk = buffer.Slice(0, Math.Min(buffer.Length, size));
                foreach (ReadOnlyMemory<byte> segment in chunk)
                {
                    output.Write(segment.Span);
                }

                input.AdvanceTo(chunk.End);
                await output.FlushAsync().ConfigureAwait(false);
                continue;
            }

            if (result.IsCompleted)
            {
                await output.CompleteAsync().ConfigureAwait(false);
                await input.CompleteAsync().ConfigureAwait(false);
                return;
            }

            input.AdvanceTo(buffer.Start, buffer.End);
        }
    }
}
