using CircuitRelay.Abstractions;
using CircuitRelay.Client;

namespace CircuitRelay.Transport;

/// <summary>
/// The <c>/p2p-circuit</c> transport: dials <c>&lt;relay addr&gt;/p2p/&lt;relay&gt;/p2p-circuit/p2p/&lt;target&gt;</c>
/// through the relay it names, and listens on <c>&lt;relay addr&gt;/p2p/&lt;relay&gt;/p2p-circuit</c> by reserving there.
/// </summary>
/// <remarks>
/// As an <see cref="ITransport"/> it plugs into a host like any other transport: the host dials circuit addresses
/// through it and runs the accept loop of the <see cref="CircuitListener"/> it returns, upgrading each
/// <see cref="RelayedConnection"/> (security, then muxer) like a raw TCP connection.
/// </remarks>
public sealed class CircuitTransport : ITransport
{
    private readonly RelayClient _client;

    /// <summary>Creates the transport over a started <see cref="RelayClient"/>.</summary>
    public CircuitTransport(RelayClient client)
    {
        ArgumentNullException.ThrowIfNull(client);
        _client = client;
    }

    /// <inheritdoc />
    public string Name => "p2p-circuit";

    /// <summary>Whether <paramref name="address"/> is a circuit address with a relay and a target.</summary>
    public static bool CanDial(Multiaddr address)
        => address is not null && address.TrySplitCircuit(out _, out _, out PeerId? target) && target is not null;

    /// <summary>Whether <paramref name="address"/> is a relay's circuit address without a target (listenable).</summary>
    public static bool CanListen(Multiaddr address)
        => address is not null && address.TrySplitCircuit(out _, out _, out PeerId? target) && target is null;

    /// <inheritdoc />
    bool ITransport.CanDial(Multiaddr address) => CanDial(address);

    /// <inheritdoc />
    bool ITransport.CanListen(Multiaddr address) => CanListen(address);

    /// <inheritdoc />
    /// <remarks><see cref="TransportDialOptions.ReuseListenPort"/> means nothing for a circuit and is ignored.</remarks>
    async ValueTask<ITransportConnection> ITransport.DialAsync(Multiaddr address, TransportDialOptions? options, CancellationToken cancellationToken)
        => await DialAsync(address, cancellationToken).ConfigureAwait(false);

    /// <inheritdoc />
    async ValueTask<ITransportListener> ITransport.ListenAsync(Multiaddr address, CancellationToken cancellationToken)
        => await ListenAsync(address, cancellationToken).ConfigureAwait(false);

    /// <summary>Dials the target through the relay named in <paramref name="address"/>.</summary>
    /// <exception cref="ArgumentException">The address is not a dialable circuit address.</exception>
    /// <exception cref="RelayException">The relay or the target refused, or the relay is unreachable.</exception>
    public async Task<RelayedConnection> DialAsync(Multiaddr address, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(address);
        if (!address.TrySplitCircuit(out Multiaddr? relayAddress, out PeerId? relay, out PeerId? target) || target is null)
        {
            throw new ArgumentException($"'{address}' is not a circuit address of the form <relay addr>/p2p/<relay>/p2p-circuit/p2p/<target>.", nameof(address));
        }

        if (target == _client.Host.Identity.PeerId)
        {
            throw new ArgumentException("Cannot dial ourselves through a relay.", nameof(address));
        }

        return await _client.ConnectAsync(relay, target, [relayAddress], cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Reserves a slot on the relay named in <paramref name="address"/> and returns a listener for the
    /// circuits it relays to us. The listener owns the reservation: disposing it stops the renewals.
    /// </summary>
    /// <exception cref="ArgumentException">The address is not a listenable circuit address.</exception>
    /// <exception cref="InvalidOperationException">A listener for that relay exists already.</exception>
    /// <exception cref="RelayException">The relay refused the reservation or is unreachable.</exception>
    public async Task<CircuitListener> ListenAsync(Multiaddr address, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(address);
        if (!address.TrySplitCircuit(out Multiaddr? relayAddress, out PeerId? relay, out PeerId? target) || target is not null)
        {
            throw new ArgumentException($"'{address}' is not a listen address of the form <relay addr>/p2p/<relay>/p2p-circuit.", nameof(address));
        }

        var listener = new CircuitListener(_client, relay, address);
        if (!_client.RegisterListener(listener))
        {
            throw new InvalidOperationException($"Already listening through relay {relay}.");
        }

        try
        {
            RelayReservation reservation = await _client.ReserveAsync(relay, [relayAddress], cancellationToken).ConfigureAwait(false);
            listener.SetReservation(reservation);
            return listener;
        }
        catch
        {
            await listener.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }
}
