using System.IO.Pipelines;
using CircuitRelay.Abstractions;
using CircuitRelay.InMemory;

namespace CircuitRelay.Tests.InMemory;

/// <summary>Helpers shared by the in-memory host tests.</summary>
internal static class InMemoryTestKit
{
    public const string EchoProtocol = "/test/echo/1.0.0";

    public static InMemoryHost CreateHost(this InMemoryNetwork network, string? ip = null) =>
        network.CreateHost(TestIdentity.Create(), TestSignatureVerifier.Instance, ip);

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

    /// <summary>A task completed by the first event the subscription sees.</summary>
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
