using System.IO.Pipelines;
using CircuitRelay.Abstractions;

namespace CircuitRelay.Tests.Host;

/// <summary>Helpers shared by the plug-in surface tests against the reference host.</summary>
internal static class HostTestKit
{
    public const string EchoProtocol = "/test/echo/1.0.0";

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

    /// <summary>A task completed by the first event the subscription sees (that <paramref name="which"/> accepts).</summary>
    public static Task<ConnectionInfo> NextConnectionEvent(Action<EventHandler<ConnectionEventArgs>> subscribe, Func<ConnectionInfo, bool>? which = null)
    {
        var seen = new TaskCompletionSource<ConnectionInfo>(TaskCreationOptions.RunContinuationsAsynchronously);
        subscribe((_, e) =>
        {
            if (which is null || which(e.Connection))
            {
                seen.TrySetResult(e.Connection);
            }
        });
        return seen.Task;
    }
}
