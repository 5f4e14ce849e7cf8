using System.Buffers;
using System.IO.Pipelines;

namespace CircuitRelay.ReferenceHost.Yamux;

/// <content>The read side: one loop parses frames and dispatches them without waiting on anyone.</content>
internal sealed partial class YamuxSession
{
    // The data frame whose payload is being received (reader loop only).
    private YamuxStream? _payloadStream;
    private long _payloadRemaining;
    private bool _payloadFin;

    private async Task ReadLoopAsync()
    {
        PipeReader input = _transport.Input;
        CancellationToken closed = _closedCts.Token;
        YamuxGoAwayCode? goAway = null;
        Exception? error = null;
        try
        {
            while (true)
            {
                ReadResult result = await input.ReadAsync(closed).ConfigureAwait(false);
                ReadOnlySequence<byte> buffer = result.Buffer;
                try
                {
                    ProcessFrames(ref buffer);
                }
                finally
                {
                    input.AdvanceTo(buffer.Start, buffer.End);
                }

                if (result.IsCompleted)
                {
                    if (!buffer.IsEmpty || _payloadRemaining > 0)
                    {
                        error = new EndOfStreamException("The Yamux connection ended in the middle of a frame.");
                    }

                    break;
                }

                if (result.IsCanceled)
                {
                    break;
                }
            }
        }
        catch (InvalidDataException e)
        {
            error = e;
            goAway = YamuxGoAwayCode.ProtocolError;
        }
        catch (OperationCanceledException) when (closed.IsCancellationRequested)
        {
            // Closing.
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            error = e;
        }

        await input.CompleteAsync().ConfigureAwait(false);
        BeginClose(goAway, error, abortTransport: false);
    }

    /// <summary>Handles every whole header, and the payload bytes available, at the start of <paramref name="buffer"/>.</summary>
    /// <exception cref="InvalidDataException">The peer broke the protocol.</exception>
    /// <exception cref="IOException">The peer ended the session with an error Go Away.</exception>
    private void ProcessFrames(ref ReadOnlySequence<byte> buffer)
    {
        while (true)
        {
            if (_payloadRemaining > 0)
            {
                long length = Math.Min(_payloadRemaining, buffer.Length);
                if (length == 0)
                {
                    return;
                }

                ReadOnlySequence<byte> chunk = buffer.Slice(0, length);
                _payloadStream?.OnData(chunk);
                buffer = buffer.Slice(chunk.End);
                _payloadRemaining -= length;
                if (_payloadRemaining > 0)
                {
                    return;
                }

                if (_payloadFin)
                {
                    _payloadStream?.OnRemoteFin();
                }

                _payloadStream = null;
                _payloadFin = false;
            }

            if (!YamuxHeader.TryRead(buffer, out YamuxHeader header))
            {
                return;
            }

            buffer = buffer.Slice(YamuxHeader.Size);
            switch (header.Type)
            {
                case YamuxFrameType.Data:
                case YamuxFrameType.WindowUpdate:
                    HandleStreamFrame(header);
                    break;
                case YamuxFrameType.Ping:
                    HandlePing(header);
                    break;
                default:
                    HandleGoAway(header);
                    break;
            }
        }
    }

    private void HandleStreamFrame(YamuxHeader header)
    {
        YamuxStream? stream;
        if (header.Has(YamuxFlags.Syn))
        {
            stream = AcceptInboundSyn(header.StreamId);
        }
        else
        {
            lock (_streamsLock)
            {
                _streams.TryGetValue(header.StreamId, out stream);
            }
        }

        bool isData = header.Type == YamuxFrameType.Data;
        if (stream is null)
        {
            // Unknown, closed or refused stream: drop the frame and any payload.
            SkipPayload(isData ? header.Length : 0);
            return;
        }

        if (header.Has(YamuxFlags.Ack))
        {
            stream.OnAck();
        }

        if (header.Has(YamuxFlags.Rst))
        {
            // With RST, a window update's Length is an error code, not a delta.
            stream.OnRemoteReset();
            SkipPayload(isData ? header.Length : 0);
            return;
        }

        if (!isData)
        {
            if (!stream.OnWindowUpdate(header.Length))
            {
                throw new InvalidDataException($"A window update on Yamux stream {header.StreamId} overflows the send window.");
            }

            if (header.Has(YamuxFlags.Fin))
            {
                stream.OnRemoteFin();
            }

            return;
        }

        if (!stream.OnDataHeader(header.Length))
        {
            throw new InvalidDataException($"The peer sent {header.Length} bytes on Yamux stream {header.StreamId}, more than its window allows.");
        }

        if (header.Length == 0)
        {
            if (header.Has(YamuxFlags.Fin))
            {
                stream.OnRemoteFin();
            }

            return;
        }

        _payloadStream = stream;
        _payloadRemaining = header.Length;
        _payloadFin = header.Has(YamuxFlags.Fin);
    }

    private void SkipPayload(uint length)
    {
        _payloadStream = null;
        _payloadRemaining = length;
        _payloadFin = false;
    }

    /// <summary>Registers a stream the peer opened, or refuses it.</summary>
    /// <returns>The stream, or <see langword="null"/> when it was refused (RST sent) or the session is closing.</returns>
    private YamuxStream? AcceptInboundSyn(uint id)
    {
        // The client opens odd ids, the server even ones; 0 is the session.
        if (id == 0 || (id % 2 == 1) == IsClient)
        {
            throw new InvalidDataException(IsClient
                ? $"The peer opened Yamux stream {id}, which is not a server id: both endpoints act as clients."
                : $"The peer opened Yamux stream {id}, which is not a client id: both endpoints act as servers.");
        }

        string refusal;
        lock (_streamsLock)
        {
            if (_closing)
            {
                return null;
            }

            if (_streams.ContainsKey(id))
            {
                throw new InvalidDataException($"The peer opened Yamux stream {id} twice.");
            }

            if (_localGoAway)
            {
                refusal = "going away";
            }
            else
            {
                var stream = new YamuxStream(this, id, outbound: false, _options);
                _streams.Add(id, stream);
                if (_acceptQueue.Writer.TryWrite(stream))
                {
                    return stream;
                }

                _streams.Remove(id);
                refusal = "accept backlog full";
            }
        }

        Log.YamuxInboundStreamRefused(_logger, id, refusal);
        EnqueueControl(new YamuxHeader(YamuxFrameType.WindowUpdate, YamuxFlags.Rst, id, 0));
        return null;
    }

    private void HandlePing(YamuxHeader header)
    {
        if (header.Has(YamuxFlags.Syn))
        {
            EnqueueControl(new YamuxHeader(YamuxFrameType.Ping, YamuxFlags.Ack, 0, header.Length));
        }
        else if (header.Has(YamuxFlags.Ack))
        {
            CompletePing(header.Length);
        }
    }

    private void HandleGoAway(YamuxHeader header)
    {
        var code = (YamuxGoAwayCode)header.Length;
        lock (_streamsLock)
        {
            _remoteGoAwayReceived = true;
        }

        _remoteGoAway.TrySetResult(code);
        if (code != YamuxGoAwayCode.Normal)
        {
            throw new IOException($"The Yamux peer ended the session with Go Away code {header.Length} ({code}).");
        }
    }
}
