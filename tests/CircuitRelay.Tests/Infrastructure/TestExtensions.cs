using System.IO.Pipelines;
using System.Security.Cryptography;

namespace CircuitRelay.Tests.Infrastructure;

public static class TestExtensions
{
    /// <summary>Writes all of <paramref name="data"/> in chunks, then (optionally) completes the writer.</summary>
    public static async Task WriteAllAsync(this PipeWriter writer, ReadOnlyMemory<byte> data, bool complete = true, int chunk = 64 * 1024)
    {
        for (int offset = 0; offset < data.Length; offset += chunk)
        {
            FlushResult result = await writer.WriteAsync(data.Slice(offset, Math.Min(chunk, data.Length - offset)));
            if (result.IsCompleted)
            {
                throw new IOException("The reader went away.");
            }
        }

        if (complete)
        {
            await writer.CompleteAsync();
        }
    }

    /// <summary>Reads until end of stream or reset: returns the bytes and whether the stream was reset.</summary>
    public static async Task<(byte[] Bytes, bool Reset)> ReadUntilEndOrResetAsync(this PipeReader reader)
    {
        using var buffer = new MemoryStream();
        try
        {
            while (true)
            {
                ReadResult result = await reader.ReadAsync();
                foreach (ReadOnlyMemory<byte> segment in result.Buffer)
                {
                    buffer.Write(segment.Span);
                }

                reader.AdvanceTo(result.Buffer.End);
                if (result.IsCompleted)
                {
                    return (buffer.ToArray(), false);
                }
            }
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException or ObjectDisposedException)
        {
            return (buffer.ToArray(), true);
        }
    }

    public static string Sha256(ReadOnlySpan<byte> data) => Convert.ToHexString(SHA256.HashData(data));
}
