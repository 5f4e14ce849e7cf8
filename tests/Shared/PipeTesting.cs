using System.Buffers;
using System.IO.Pipelines;
using CircuitRelay.Abstractions;

namespace CircuitRelay.Testing;

/// <summary>Pipe and stream helpers that both test projects use.</summary>
internal static class PipeTesting
{
    /// <summary>Reproducible pseudo-random bytes.</summary>
    public static byte[] RandomBytes(int length, int seed)
    {
        byte[] bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    /// <summary>Reads until end of stream, consuming as it goes (so flow control lets the writer go on), and returns every byte.</summary>
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

    /// <summary>A stream handler that echoes every byte, half-closes after the remote's FIN, then disposes the stream.</summary>
    /// <summary>
    /// Reads everything until a read fails, as an application would after its connection broke: the bytes received, in
    /// order, the exception, and whether any read before it claimed a clean end of stream (it must not).
    /// </summary>
    public static async Task<(byte[] Received, Exception? Failure, bool SawCleanEnd)> ReadUntilFailureAsync(this PipeReader reader)
    {
        var received = new MemoryStream();
        try
        {
            while (true)
            {
                ReadResult result = await reader.ReadAsync().AsTask().WaitAsync(Bounded.Timeout);
                foreach (ReadOnlyMemory<byte> segment in result.Buffer)
                {
                    received.Write(segment.Span);
                }

                reader.AdvanceTo(result.Buffer.End);
                if (result.IsCompleted)
                {
                    return (received.ToArray(), null, true);
                }
            }
        }
        catch (Exception ex) when (ex is not TimeoutException)
        {
            return (received.ToArray(), ex, false);
        }
    }

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
}
