using CircuitRelay.Abstractions;

namespace CircuitRelay.ReferenceHost;

public sealed partial class Libp2pHost
{
    private readonly List<Multiaddr> _externalAddresses = [];
    private readonly Dictionary<PeerId, (Multiaddr Address, long Sequence)> _observed = [];
    private long _observedSequence;

    /// <inheritdoc />
    public event EventHandler? AddressesChanged;

    /// <inheritdoc />
    /// <remarks>The addresses of every live listener (TCP ports resolved, a circuit listener's relay addresses).</remarks>
    public IReadOnlyList<Multiaddr> ListenAddresses
    {
        get
        {
            lock (_lock)
            {
                return [.. _listeners.SelectMany(e => e.Listener.Addresses).Distinct()];
            }
        }
    }

    /// <inheritdoc />
    /// <remarks>Listen addresses, then external addresses.</remarks>
    public IReadOnlyList<Multiaddr> Addresses
    {
        get
        {
            IReadOnlyList<Multiaddr> listen = ListenAddresses;
            lock (_lock)
            {
                return [.. listen.Concat(_externalAddresses).Distinct()];
            }
        }
    }

    /// <inheritdoc />
    /// <remarks>
    /// One report per connected reporter counts (a reporter's report is dropped when its last connection closes);
    /// ties are ordered most recent first.
    /// </remarks>
    public IReadOnlyList<ObservedAddress> ObservedAddresses
    {
        get
        {
            lock (_lock)
            {
                return
                [
                    .. _observed.Values
                        .GroupBy(r => r.Address)
                        .Select(g => (Address: g.Key, Count: g.Count(), Latest: g.Max(r => r.Sequence)))
                        .OrderByDescending(g => g.Count)
                        .ThenByDescending(g => g.Latest)
                        .Select(g => new ObservedAddress(g.Address, g.Count)),
                ];
            }
        }
    }

    /// <inheritdoc />
    public IReadOnlyList<Multiaddr> ExternalAddresses
    {
        get
        {
            lock (_lock)
            {
                return [.. _externalAddresses];
            }
        }
    }

    /// <inheritdoc />
    public bool AddExternalAddress(Multiaddr address)
    {
        ArgumentNullException.ThrowIfNull(address);
        address = address.WithoutPeerId();
        lock (_lock)
        {
            if (_externalAddresses.Contains(address))
            {
                return false;
            }

            _externalAddresses.Add(address);
        }

        RaiseAddressesChanged();
        return true;
    }

    /// <inheritdoc />
    public bool RemoveExternalAddress(Multiaddr address)
    {
        ArgumentNullException.ThrowIfNull(address);
        address = address.WithoutPeerId();
        bool removed;
        lock (_lock)
        {
            removed = _externalAddresses.Remove(address);
        }

        if (removed)
        {
            RaiseAddressesChanged();
        }

        return removed;
    }

    /// <inheritdoc />
    /// <remarks>Relayed and empty addresses are ignored: they say nothing about how we are reached directly.</remarks>
    public void ReportObservedAddress(PeerId reporter, Multiaddr observed)
    {
        ArgumentNullException.ThrowIfNull(reporter);
        ArgumentNullException.ThrowIfNull(observed);
        observed = observed.WithoutPeerId();
        if (observed.IsEmpty || observed.IsRelayed)
        {
            return;
        }

        bool changed;
        lock (_lock)
        {
            changed = !_observed.TryGetValue(reporter, out var previous) || previous.Address != observed;
            _observed[reporter] = (observed, ++_observedSequence);
        }

        if (changed)
        {
            RaiseAddressesChanged();
        }
    }

    private void ForgetObservedReport(PeerId reporter)
    {
        bool removed;
        lock (_lock)
        {
            removed = _observed.Remove(reporter);
        }

        if (removed && Volatile.Read(ref _disposed) == 0)
        {
            RaiseAddressesChanged();
        }
    }

    private void RaiseAddressesChanged() => AddressesChanged?.Invoke(this, EventArgs.Empty);
}
