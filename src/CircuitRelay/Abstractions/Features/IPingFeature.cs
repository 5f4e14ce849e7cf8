namespace CircuitRelay.Abstractions;

/// <summary>A host feature: ping a peer (<c>/ipfs/ping/1.0.0</c>) to check a connection is alive and measure its round trip.</summary>
/// <remarks>AutoRelay pings the relays it holds reservations on, so a frozen relay is noticed in seconds.</remarks>
public interface IPingFeature
{
    /// <summary>Pings <paramref name="peer"/> (over an existing connection when there is one) and returns the round-trip time.</summary>
    /// <exception cref="IOException">The peer is unreachable or the stream failed.</exception>
    /// <exception cref="InvalidDataException">The echo differed from what was sent.</exception>
    /// <exception cref="TimeoutException">No echo within the host's ping deadline.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled first.</exception>
    Task<TimeSpan> PingAsync(PeerId peer, CancellationToken cancellationToken = default);
}
