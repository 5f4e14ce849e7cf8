using System.Buffers;
using System.IO.Pipelines;

namespace CircuitRelay.ReferenceHost.Tests.TestSupport;

/// <summary>Small read/write helpers over pipes.</summary>
internal static class PipeIo
{
    public static async Task WriteAsync(PipeWriter writer, byte[] data)
    {
        FlushResult result = await writer.WriteAsync(data);
        result.IsCompleted.Should().BeFalse("the reader should still be reading");
    }

    /// <summary>Reads exactly <paramref name="count"/> bytes, consuming them as they arrive (so window flows back).</summary>
    public static async Task<byte[]> ReadExactlyAsync(PipeReader reader, int count)
    {
        byte[] bytes = new byte[count];
        int filled = 0;
        while (filled < count)
        {
            ReadResult result = await reader.ReadAsync();
            ReadOnlySequence<byte> take = result.Buffer.Slice(0, Math.Min(result.Buffer.Length, count - filled));
            take.CopyTo(bytes.AsSpan(filled));
            filled += (int)take.Length;
            reader.AdvanceTo(take.End);
            if (filled < count && result.IsCompleted)
            {
                throw new EndOfStreamException($"Expected {count} bytes, the pipe ended after {filled}.");
            }
        }

        return bytes;
    }

    /// <summary>Waits until <paramref name="count"/> bytes are buffered, then consumes them in one AdvanceTo.
    /// Only valid for counts within the receive window.</summary>
    public static async Task<byte[]> ReadExactlyInOneAdvanceAsync(PipeReader reader, int count)
    {
        ReadResult result = await reader.ReadAtLeastAsync(count);
        if (result.Buffer.Length < count)
        {
            reader.AdvanceTo(result.Buffer.Start, result.Buffer.End);
            throw new EndOfStreamException($"Expected {count} bytes, the pipe ended after {result.Buffer.Length}.");
        }

        byte[] bytes = result.Buffer.Slice(0, count).ToArray();
        reader.AdvanceTo(result.Buffer.GetPosition(count));
        return bytes;
    }
}
