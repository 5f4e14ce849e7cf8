using CircuitRelay.Abstractions;

namespace CircuitRelay.ReferenceHost;

public sealed partial class Libp2pHost
{
    private readonly List<ListenerEntry> _listeners = [];

    /// <inheritdoc />
    /// <remarks>
    /// The listener's addresses join <see cref="ListenAddresses"/> (and <see cref="AddressesChanged"/> is raised)
    /// until it closes. The host runs its accept loop: do not call <see cref="ITransportListener.AcceptAsync"/>.
    /// Listening through a relay (<c>&lt;relay addr&gt;/p2p/&lt;relay&gt;/p2p-circuit</c>) needs the circuit transport
    /// (<see cref="AddTransport"/>) and returns its <c>CircuitListener</c>.
    /// </remarks>
    public async ValueTask<ITransportListener> ListenAsync(Multiaddr address, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(address);
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        ITransport transport = FindTransport(t => t.CanListen(address))
            ?? throw new NotSupportedException($"No transport of this host can listen on '{address}' (transports: {TransportNames()}).");
        ITransportListener listener = await transport.ListenAsync(address, cancellationToken).ConfigureAwait(false);
        var entry = new ListenerEntry(transport, listener, address);
        bool added;
        lock (_lock)
        {
            added = Volatile.Read(ref _disposed) == 0;
            if (added)
            {
                _listeners.Add(entry);
            }
        }

        if (!added)
        {
            await listener.DisposeAsync().ConfigureAwait(false);
            throw new ObjectDisposedException(nameof(Libp2pHost));
        }

        foreach (Multiaddr bound in listener.Addresses)
        {
            Log.Listening(_logger, bound.WithPeerId(Identity.PeerId));
        }

        Track(AcceptLoopAsync(entry));
        RaiseAddressesChanged();
        return listener;
    }

    /// <summary>Accepts until the listener closes, then removes its addresses.</summary>
    private async Task AcceptLoopAsync(ListenerEntry entry)
    {
        await Task.Yield();
        try
        {
            while (true)
            {
                ITransportConnection? raw;
                try
                {
                    raw = await entry.Listener.AcceptAsync(_shutdown.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    break;
                }
                catch (Exception ex) when (ex is IOException or InvalidOperationException)
                {
                    Log.AcceptFailed(_logger, entry.Transport.Name, entry.Address, ex);
                    break;
                }

                if (raw is null)
                {
                    break;
                }

                OnAccepted(raw);
            }
        }
        finally
        {
            bool removed;
            lock (_lock)
            {
                removed = _listeners.Remove(entry);
            }

            if (entry.Address.TrySplitCircuit(out _, out PeerId? relay, out _))
            {
                Log.RelayListenerStopped(_logger, relay);
            }
            else
            {
                Log.ListenerStopped(_logger, entry.Transport.Name, entry.Address);
            }

            if (removed && Volatile.Read(ref _disposed) == 0)
            {
                RaiseAddressesChanged();
            }
        }
    }

    /// <summary>The inbound cap (direct connections only) and the <see cref="InboundStage.Connection"/> gates, then the upgrade in the background.</summary>
    private void OnAccepted(ITransportConnection raw)
    {
        bool countsInbound = raw.Relay is null;
        if (countsInbound && !TryAcquireInboundAddress(raw.RemoteAddress, out string? refusal))
        {
            Log.InboundConnectionRefusedForItsAddress(_logger, raw.RemoteAddress, refusal!);
            Refuse(raw);
            return;
        }

        // Over the global cap an idle connection gives way (trimmed) before the new one is refused.
        if (countsInbound && Interlocked.Increment(ref _inboundConnections) > _options.MaxInboundConnections && !TrimOneIdleInbound())
        {
            Interlocked.Decrement(ref _inboundConnections);
            ReleaseInboundAddress(raw.RemoteAddress);
            Log.InboundConnectionRefused(_logger, raw.RemoteAddress, _options.MaxInboundConnections);
            Refuse(raw); // RST: nothing was said, nothing is owed
            return;
        }

        InboundDecision decision = Check(new InboundAttempt(InboundStage.Connection, raw.RemoteAddress) { Relay = raw.Relay });
        if (!decision.IsAllowed)
        {
            if (countsInbound)
            {
                Interlocked.Decrement(ref _inboundConnections);
                ReleaseInboundAddress(raw.RemoteAddress);
            }

            Log.ConnectionRefusedByGate(_logger, raw.RemoteAddress, decision.Reason ?? "denied");
            Refuse(raw);
            return;
        }

        Track(HandleAcceptedAsync(raw, countsInbound));
    }

    private void Refuse(ITransportConnection raw)
    {
        raw.Abort();
        Track(raw.DisposeAsync().AsTask());
    }

    /// <summary>A listener the host accepts on, with the transport that made it and the address it was asked for.</summary>
    private sealed record ListenerEntry(ITransport Transport, ITransportListener Listener, Multiaddr Address);
}
