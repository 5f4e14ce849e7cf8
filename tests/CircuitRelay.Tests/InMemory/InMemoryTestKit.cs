using System.Buffers;
using System.IO.Pipelines;
using CircuitRelay.Hosting;
using CircuitRelay.InMemory;

namespace CircuitRelay.Tests.InMemory;

/// <summary>Helpers shared by the in-memory host tests.</summary>
internal static class InMemoryTestKit
{
    public const string EchoProtocol = "/test/echo/1.0.0";

    public static readonly TimeSpan TestTimeout = TimeSpan.FromSeconds(30);

    public static InMemoryHost CreateHost(this InMemoryNetwork network, string? ip = null) =>
        network.CreateHost(TestIdentity.Create(), TestSignatureVerifier.Instance, ip);

    /// <summary>A handler that echoes every byte, then half-closes after the remote's FIN.</summary>
    public static async Task EchoAsync(ILibp2pStream stream, CancellationToken cancellationToken)
    {
        await using (stream)
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
        }
    }

    /// <summary>Reads until the remote's FIN.</summary>
    public static async Task<byte[]> ReadToEndAsync(this PipeReader reader)
    {
        var received = new ArrayBufferWriter<byte>();
        while (true)
        {
            ReadResult result = await reader.ReadAsync();
            foreach (ReadOnlyMemory<byte> segment in result.Buffer)
            {
                received.Write(segment.Span);
            }

            reader.AdvanceTo(result.Buffer.End);
            if (result.IsCompleted)
            {
                return received.WrittenSpan.ToArray();
            }
        }
    }

    /// <summary>Writes <paramref name="data"/> in chunks, flushing each, then half-closes.</summary>
    public static async Task WriteAllAndCompleteAsync(this PipeWriter writer, byte[] data, int chunkSize = 16 * 1024)
    {
        for (int offset = 0; offset < data.Length; offset += chunkSize)
        {
            FlushResult flush = await writer.WriteAsync(data.AsMemory(offset, Math.Min(chunkSize, data.Length - offset)));
            flush.IsCompleted.Should().BeFalse("the remote must still read");
        }

        await writer.CompleteAsync();
    }

    public static byte[] RandomBytes(int length, int seed)
    {
        byte[] bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    /// <summary>A task completed by the first event the subscription sees.</summary>
    public static Task<ConnectionInfo> NextConnectionEvent(Action<EventHandler<ConnectionEventArgs>> subscribe)
    {
        var seen = new TaskCompletionSource<ConnectionInfo>(TaskCreationOptions.RunContinuationsAsynchronously);
        subscribe((_, e) => seen.TrySetResult(e.Connection));
        return seen.Task;
    }
}
