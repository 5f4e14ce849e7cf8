namespace CircuitRelay.Abstractions;

/// <summary>
/// A host feature: listen on another address at run time (a TCP port, or a relay's <c>/p2p-circuit</c> address,
/// which reserves there). The host accepts and upgrades what arrives.
/// </summary>
public interface IListenFeature
{
    /// <summary>
    /// Listens on <paramref name="address"/> through the first transport that can; the host accepts and upgrades
    /// each connection. Disposing the returned listener stops listening (a circuit listener releases its
    /// reservation). Do not call <see cref="ITransportListener.AcceptAsync"/> on it: the host does.
    /// </summary>
    /// <exception cref="IOException">The address cannot be listened on.</exception>
    /// <exception cref="NotSupportedException">No transport of the host can listen on the address.</exception>
    ValueTask<ITransportListener> ListenAsync(Multiaddr address, CancellationToken cancellationToken = default);
}
