using CircuitRelay.Abstractions;

namespace CircuitRelay.Transport;

/// <summary>
/// An incoming circuit waiting in a listener's backlog. Exactly one party claims it: the listener's
/// accept (which answers OK), the accept timeout or the listener's disposal (which refuse it).
/// </summary>
internal sealed class PendingCircuit(ILibp2pStream stream, PeerId relay, PeerId source, RelayLimit? limit, Multiaddr remoteAddress)
{
    private readonly TaskCompletionSource<bool> _settled = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _claimed;

    public ILibp2pStream Stream { get; } = stream;

    public PeerId Relay { get; } = relay;

    public PeerId Source { get; } = source;

    public RelayLimit? Limit { get; } = limit;

    public Multiaddr RemoteAddress { get; } = remoteAddress;

    /// <summary>Takes the circuit; false when someone else already did.</summary>
    public bool TryClaim() => Interlocked.Exchange(ref _claimed, 1) == 0;

    /// <summary>Tells the stop handler the listener took the circuit (true) or refused it (false).</summary>
    public void Settle(bool accepted) => _settled.TrySetResult(accepted);

    /// <summary>Waits until accepted; false on timeout or refusal.</summary>
    public async Task<bool> WaitAsync(CancellationToken cancellationToken)
    {
        try
        {
            return await _settled.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }
}
