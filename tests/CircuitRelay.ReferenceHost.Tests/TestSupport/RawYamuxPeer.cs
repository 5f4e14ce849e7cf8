using System.Buffers;
using System.IO.Pipelines;
using CircuitRelay.ReferenceHost.Yamux;

namespace CircuitRelay.ReferenceHost.Tests.TestSupport;

/// <summary>The far end of a session's transport, driven frame by frame by the test.</summary>
internal sealed class RawYamuxPeer(IDuplexPipe pipe)
{
    public IDuplexPipe Pipe { get; } = pipe;

    public async Task SendAsync(YamuxHeader header, byte[]? payload = null)
    {
        byte[] bytes = new byte[YamuxHeader.Size];
        header.Write(bytes);
        await SendRawAsync(bytes);
        if (payload is { Length: > 0 })
        {
            await SendRawAsync(payload);
        }
    }

    /// <summary>Writes raw bytes. The session may stop reading part-way (after a violation), which is not an error here.</summary>
    public async Task SendRawAsync(byte[] bytes) => await Pipe.Output.WriteAsync(bytes);

    /// <summary>Reads the next frame, or returns <see langword="null"/> when the session closed the transport.</summary>
    public async Task<(YamuxHeader Header, byte[] Payload)?> ReceiveAsync()
    {
        byte[]? headerBytes = await ReadExactOrEndAsync(YamuxHeader.Size);
        if (headerBytes is null)
        {
            return null;
        }

        YamuxHeader header = YamuxHeader.Parse(headerBytes);
        int payloadLength = header.Type == YamuxFrameType.Data ? (int)header.Length : 0;
        byte[] payload = payloadLength == 0 ? [] : await ReadExactOrEndAsync(payloadLength) ?? throw new EndOfStreamException("Payload cut short.");
        return (header, payload);
    }

    /// <summary>Reads frames until one matches, failing on the end of the transport.</summary>
    public async Task<(YamuxHeader Header, byte[] Payload)> ReceiveUntilAsync(Func<YamuxHeader, bool> match)
    {
        while (true)
        {
            (YamuxHeader Header, byte[] Payload)? frame = await ReceiveAsync();
            if (frame is null)
            {
                throw new EndOfStreamException("The session closed the transport before the expected frame.");
            }

            if (match(frame.Value.Header))
            {
                return frame.Value;
            }
        }
    }

    /// <summary>Reads frames until the transport ends, returning them all.</summary>
    public async Task<List<YamuxHeader>> ReceiveToEndAsync()
    {
        var frames = new List<YamuxHeader>();
        while (await ReceiveAsync() is { } frame)
        {
            frames.Add(frame.Header);
        }

        return frames;
    }

    private async Task<byte[]?> ReadExactOrEndAsync(int count)
    {
        ReadResult result = await Pipe.Input.ReadAtLeastAsync(count);
        if (result.Buffer.Length < count)
        {
            Pipe.Input.AdvanceTo(result.Buffer.Start, result.Buffer.End);
            if (result.Buffer.IsEmpty)
            {
                return null;
            }

            throw new EndOfStreamException("The transport ended inside a frame.");
        }

        byte[] bytes = result.Buffer.Slice(0, count).ToArray();
        Pipe.Input.AdvanceTo(result.Buffer.GetPosition(count));
        return bytes;
    }
}
