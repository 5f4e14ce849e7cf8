using System.Buffers;
using System.Buffers.Binary;
using System.IO.Pipelines;
using System.Text;
using CircuitRelay.Abstractions;

namespace CircuitRelay.InMemory.Muxing;

/// <summary>The reader loop: parses frames from <c>raw.Input</c> and dispatches them.</summary>
internal sealed partial class MuxedConnection
{
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    private async Task ReadLoopAsync()
    {
        PipeReader input = _raw.Input;
        Exception? error = null;
        try
        {
            while (true)
            {
                ReadResult result = await input.ReadAsync(_closing.Token).ConfigureAwait(false);
                ReadOnlySequence<byte> buffer = result.Buffer;
                try
                {
                    while (MuxFrame.TryRead(ref buffer, out uint streamId, out FrameType type, out ReadOnlySequence<byte> payload))
                    {
                        Dispatch(streamId, type, payload);
                    }
                }
                finally
                {
                    input.AdvanceTo(buffer.Start, buffer.End);
                }

                if (result.IsCompleted)
                {
                    if (!buffer.IsEmpty)
                    {
                        error = new EndOfStreamException($"The connection {Info.Id} ended inside a frame.");
                    }
                    else if (!_handshakeDone)
                    {
                        error = new IOException($"The connection {Info.Id} ended before the handshake.");
                    }

                    break;
                }

                if (result.IsCanceled)
                {
                    break;
                }
            }
        }
        catch (OperationCanceledException) when (_closing.IsCancellationRequested)
        {
            // Closed locally.
        }
        catch (Exception exception)
        {
            error = exception;
        }
        finally
        {
            input.Complete();
            Abort(error);
        }
    }

    /// <exception cref="InvalidDataException">The remote broke the framing rules.</exception>
    /// <exception cref="IOException">The handshake failed.</exception>
    private void Dispatch(uint streamId, FrameType type, ReadOnlySequence<byte> payload)
    {
        if (!_handshakeDone)
        {
            HandleHandshake(streamId, type, payload);
            return;
        }

        if (streamId == 0)
        {
            throw new InvalidDataException($"Unexpected {type} frame on stream 0.");
        }

        switch (type)
        {
            case FrameType.Open:
                HandleOpen(streamId, payload);
                break;
            case FrameType.Ack:
                ExpectEmpty(type, payload);
                Find(streamId)?.OnAck();
                break;
            case FrameType.Data:
                if (payload.IsEmpty)
                {
                    throw new InvalidDataException("Empty DATA frame.");
                }

                Find(streamId)?.OnData(payload);
                break;
            case FrameType.Fin:
                ExpectEmpty(type, payload);
                Find(streamId)?.OnRemoteFin();
                break;
            case FrameType.Reset:
                if (payload.Length > 1)
                {
                    throw new InvalidDataException("RST payload longer than one byte.");
                }

                Find(streamId)?.OnRemoteReset(payload.IsEmpty ? ResetReason.Reset : (ResetReason)payload.FirstSpan[0]);
                break;
            case FrameType.Window:
                if (payload.Length != 4)
                {
                    throw new InvalidDataException("WINDOW payload must be 4 bytes.");
                }

                Span<byte> increment = stackalloc byte[4];
                payload.CopyTo(increment);
                Find(streamId)?.OnWindowUpdate(BinaryPrimitives.ReadUInt32BigEndian(increment));
                break;
            default:
                throw new InvalidDataException($"Unknown frame type {(byte)type}.");
        }
    }

    private static void ExpectEmpty(FrameType type, ReadOnlySequence<byte> payload)
    {
        if (!payload.IsEmpty)
        {
            throw new InvalidDataException($"{type} frames carry no payload.");
        }
    }

    /// <summary>
    /// The handshake: the remote's first frame must be HELLO with the expected peer id (the remote's
    /// HELLO precedes everything else it sends, so no stream is handled before it).
    /// </summary>
    private void HandleHandshake(uint streamId, FrameType type, ReadOnlySequence<byte> payload)
    {
        if (streamId != 0 || type != FrameType.Hello || payload.IsEmpty)
        {
            throw new IOException($"The connection {Info.Id} did not start with a handshake (got {type} on stream {streamId}).");
        }

        PeerId remote;
        try
        {
            remote = PeerId.FromBytes(payload.ToArray());
        }
        catch (FormatException exception)
        {
            throw new IOException($"The connection {Info.Id} handshake carried an invalid peer id.", exception);
        }

        if (!remote.Equals(Info.RemotePeer))
        {
            throw new IOException($"The remote peer on connection {Info.Id} is {remote}, not the expected {Info.RemotePeer}.");
        }

        _handshakeDone = true;
    }

    private void HandleOpen(uint streamId, ReadOnlySequence<byte> payload)
    {
        if (IsLocalStreamId(streamId) || streamId <= _lastRemoteStreamId)
        {
            throw new InvalidDataException($"OPEN with invalid stream id {streamId}.");
        }

        if (payload.IsEmpty || payload.Length > MuxFrame.MaxProtocolLength)
        {
            throw new InvalidDataException("OPEN must carry a protocol id of 1 to 1024 bytes.");
        }

        _lastRemoteStreamId = streamId;
        string protocol;
        try
        {
            protocol = StrictUtf8.GetString(payload);
        }
        catch (DecoderFallbackException exception)
        {
            throw new InvalidDataException("OPEN carried a protocol id that is not UTF-8.", exception);
        }

        (StreamHandler? handler, ResetReason refusal) = _host.ResolveHandler(protocol, Info);
        if (handler is null)
        {
            SendReset(streamId, refusal);
            return;
        }

        var stream = new MuxedStream(this, streamId, protocol, outbound: false);
        lock (_sync)
        {
            if (_isClosed)
            {
                return;
            }

            _streams.Add(streamId, stream);
        }

        TrySend(new OutboundFrame(streamId, FrameType.Ack, null, 0));
        StartPump(stream);
        _host.RunHandler(handler, stream);
    }

    private MuxedStream? Find(uint streamId)
    {
        lock (_sync)
        {
            return _streams.GetValueOrDefault(streamId);
        }
    }
}
