namespace CircuitRelay.Abstractions;

/// <summary>
/// Accepts raw connections on one address. Follows the Kestrel/QUIC listener contract:
/// <see cref="AcceptAsync"/> returns <see langword="null"/> once the listener is closed, and disposal is
/// idempotent and releases what was waiting.
/// </summary>
public interface ITransportListener : IAsyncDisposable
{
    /// <summary>
    /// The addresses other nodes dial to reach this listener, resolved (a TCP port 0 becomes the bound port;
    /// a circuit listener gives the relay's circuit addresses), without <c>/p2p/&lt;own id&gt;</c>.
    /// </summary>
    IReadOnlyList<Multiaddr> Addresses { get; }

    /// <summary>Waits for the next connection; <see langword="null"/> once the listener is closed.</summary>
    ValueTask<ITransportConnection?> AcceptAsync(CancellationToken cancellationToken = default);
}
