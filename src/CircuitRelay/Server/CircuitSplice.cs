using System.Buffers;
using System.IO.Pipelines;
using CircuitRelay.Abstractions;
using CircuitRelay.Internal;

namespace CircuitRelay.Server;

/// <summary>
/// Bridges the source's hop stream and the target's stop stream byte for byte, enforcing the circuit
/// limit exactly and per direction (circuit-v2.md "Limit"):
/// <list type="bullet">
/// <item>Data: exactly <c>N</c> bytes pass in each direction. The relay then half-closes toward the
/// receiver at once, so the N bytes are delivered and then end of stream. If the sender tries to send
/// byte N+1, the circuit ends (<see cref="CircuitCloseReason.DataLimitExceeded"/>): the sender's stream
/// is reset, the receiver's stream is closed (not reset, which could drop the N bytes still in flight
/// toward it: go half-closes here too; the spec's reset is a SHOULD).</item>
/// <item>Duration: a timer on the injected clock resets both streams when the limit elapses.</item>
/// <item>An optional per-peer bandwidth cap (token buckets shared by all circuits of a peer).</item>
/// </list>
/// No allocation per chunk: bytes move from the source pipe's segments into the destination pipe's
/// buffer, one chunk (at most <c>bufferSize</c>) per flush.
/// </summary>
internal sealed class CircuitSplice
{
    private readonly ILibp2pStream _source;
    private readonly ILibp2pStream _target;
    private readonly RelayLimit? _limit;
    private readonly int _bufferSize;
    private readonly TimeProvider _time;
    private readonly CancellationTokenSource _cts;
    private int _reason = -1;
    private long _bytesToTarget;
    private long _bytesToSource;

    public CircuitSplice(ILibp2pStream source, ILibp2pStream target, RelayLimit? limit, int bufferSize, TimeProvider time, CancellationToken shutdown)
    {
        _source = source;
        _target = target;
        _limit = limit;
        _bufferSize = bufferSize;
        _time = time;
        _cts = CancellationTokenSource.CreateLinkedTokenSource(shutdown);
    }

    /// <summary>Token buckets charged for bytes of the source peer (both directions); optional.</summary>
    public TokenBucket? SourceBandwidth { get; init; }

    /// <summary>Token buckets charged for bytes of the target peer (both directions); optional.</summary>
    public TokenBucket? TargetBandwidth { get; init; }

    /// <summary>Called with each chunk forwarded to the target (for metrics).</summary>
    public Action<long>? OnBytesToTarget { get; init; }

    /// <summary>Called with each chunk forwarded to the source (for metrics).</summary>
    public Action<long>? OnBytesToSource { get; init; }

    public long BytesToTarget => Interlocked.Read(ref _bytesToTarget);

    public long BytesToSource => Interlocked.Read(ref _bytesToSource);

    /// <summary>Runs the circuit to its end and releases both streams.</summary>
    public async Task<CircuitCloseReason> RunAsync()
    {
        ITimer? durationTimer = null;
        if (_limit is { HasDuration: true })
        {
            durationTimer = _time.CreateTimer(
                static state => ((CircuitSplice)state!).Stop(CircuitCloseReason.DurationLimitExceeded),
                this,
                _limit.Duration,
                Timeout.InfiniteTimeSpan);
        }

        long dataLimit = _limit is { HasData: true } ? (long)Math.Min(_limit.DataBytes, long.MaxValue) : 0;
        try
        {
            Task<PumpOutcome> toTarget = PumpAsync(_source.Input, _target.Output, dataLimit, isToTarget: true);
            Task<PumpOutcome> toSource = PumpAsync(_target.Input, _source.Output, dataLimit, isToTarget: false);

            // Whichever direction fails first decides; a failure resets both streams so the other ends too.
            Task<PumpOutcome> first = await Task.WhenAny(toTarget, toSource).ConfigureAwait(false);
            OnOutcome(await first.ConfigureAwait(false), sender: first == toTarget ? _source : _target);
            Task<PumpOutcome> second = first == toTarget ? toSource : toTarget;
            OnOutcome(await second.ConfigureAwait(false), sender: second == toTarget ? _source : _target);

            int reason = Volatile.Read(ref _reason);
            return reason < 0 ? CircuitCloseReason.Closed : (CircuitCloseReason)reason;
        }
        finally
        {
            durationTimer?.Dispose();
            await _source.DisposeAsync().ConfigureAwait(false);
            await _target.DisposeAsync().ConfigureAwait(false);
            _cts.Dispose();
        }
    }

    /// <summary>Ends the circuit with <paramref name="reason"/>: both streams are reset. The first reason wins.</summary>
    public void Stop(CircuitCloseReason reason) => Stop(reason, violator: null);

    private void OnOutcome(PumpOutcome outcome, ILibp2pStream sender)
    {
        switch (outcome)
        {
            case PumpOutcome.LimitExceeded:
                Stop(CircuitCloseReason.DataLimitExceeded, violator: sender);
                break;
            case PumpOutcome.Failed:
                Stop(CircuitCloseReason.Reset);
                break;
        }
    }

    private void Stop(CircuitCloseReason reason, ILibp2pStream? violator)
    {
        if (Interlocked.CompareExchange(ref _reason, (int)reason, -1) != -1)
        {
            return;
        }

        if (violator is null)
        {
            _source.Abort();
            _target.Abort();
        }
        else
        {
            // Only the sender that broke the limit is reset; the other stream is closed gracefully
            // when the circuit is released, after the bytes already relayed to it.
            violator.Abort();
        }
        try
        {
            _cts.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // The circuit already finished.
        }
    }

    private enum PumpOutcome
    {
        Completed,
        LimitExceeded,
        Failed,
    }

    private async Task<PumpOutcome> PumpAsync(PipeReader input, PipeWriter output, long dataLimit, bool isToTarget)
    {
        CancellationToken cancellationToken = _cts.Token;
        long remaining = dataLimit > 0 ? dataLimit : long.MaxValue;
        bool outputCompleted = false;
        Action<long>? onBytes = isToTarget ? OnBytesToTarget : OnBytesToSource;
        try
        {
            while (true)
            {
                ReadResult result = await input.ReadAsync(cancellationToken).ConfigureAwait(false);
                ReadOnlySequence<byte> buffer = result.Buffer;
                if (!buffer.IsEmpty)
                {
                    if (remaining == 0)
                    {
                        // Byte N+1 in this direction: the limit is exceeded.
                        input.AdvanceTo(buffer.Start);
                        return PumpOutcome.LimitExceeded;
                    }

                    long take = Math.Min(Math.Min(buffer.Length, remaining), _bufferSize);
                    if (SourceBandwidth is { } sourceBucket)
                    {
                        await sourceBucket.WaitAsync(take, cancellationToken).ConfigureAwait(false);
                    }

                    if (TargetBandwidth is { } targetBucket)
                    {
                        await targetBucket.WaitAsync(take, cancellationToken).ConfigureAwait(false);
                    }

                    ReadOnlySequence<byte> chunk = buffer.Slice(0, take);
                    foreach (ReadOnlyMemory<byte> segment in chunk)
                    {
                        output.Write(segment.Span);
                    }

                    input.AdvanceTo(chunk.End);
                    remaining -= take;
                    if (isToTarget)
                    {
                        Interlocked.Add(ref _bytesToTarget, take);
                    }
                    else
                    {
                        Interlocked.Add(ref _bytesToSource, take);
                    }

                    onBytes?.Invoke(take);
                    FlushResult flush = await output.FlushAsync(cancellationToken).ConfigureAwait(false);
                    if (flush.IsCompleted || flush.IsCanceled)
                    {
                        return PumpOutcome.Failed;
                    }

                    if (remaining == 0 && dataLimit > 0 && !outputCompleted)
                    {
                        // Exactly N bytes delivered: end the stream toward the receiver now, after the data.
                        outputCompleted = true;
                        await output.CompleteAsync().ConfigureAwait(false);
                    }

                    continue;
                }

                if (result.IsCompleted || result.IsCanceled)
                {
                    // The sender closed its write side: pass the half-close on.
                    if (!outputCompleted)
                    {
                        outputCompleted = true;
                        await output.CompleteAsync().ConfigureAwait(false);
                    }

                    await input.CompleteAsync().ConfigureAwait(false);
                    return PumpOutcome.Completed;
                }

                input.AdvanceTo(buffer.Start, buffer.End);
            }
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException)
        {
            return PumpOutcome.Failed;
        }
    }
}
