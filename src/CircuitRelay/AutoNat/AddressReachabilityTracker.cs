using System.Net;
using CircuitRelay.Adverts;
using Microsoft.Extensions.Logging;

namespace CircuitRelay.AutoNat;

/// <summary>
/// The reachability of each of the node's addresses from AutoNAT v2 results, by the same rule as the node's
/// (<see cref="ReachabilityTracker"/>): an address turns public or private only after <see cref="Confidence"/>
/// agreeing results in a row from servers on distinct networks, so it never flaps.
/// </summary>
public sealed class AddressReachabilityTracker
{
    private readonly ILoggerFactory _loggerFactory;
    private readonly Lock _lock = new();
    private readonly Dictionary<Multiaddr, ReachabilityTracker> _addresses = [];

    /// <summary>Creates the tracker.</summary>
    /// <param name="loggerFactory">Where the decisions are logged.</param>
    /// <param name="confidence">Agreeing results from distinct networks needed to change an address's state (at least 1; default 3).</param>
    public AddressReachabilityTracker(ILoggerFactory loggerFactory, int confidence = 3)
    {
        ArgumentNullException.ThrowIfNull(loggerFactory);
        ArgumentOutOfRangeException.ThrowIfLessThan(confidence, 1);
        _loggerFactory = loggerFactory;
        Confidence = confidence;
    }

    /// <summary>Raised after an address's state changed (with the address and its new state).</summary>
    public event EventHandler<AddressReachabilityEventArgs>? AddressReachabilityChanged;

    /// <summary>Agreeing results from distinct networks needed to change an address's state.</summary>
    public int Confidence { get; }

    /// <summary>The state of every address with a result, by address.</summary>
    public IReadOnlyDictionary<Multiaddr, NodeRole> States
    {
        get
        {
            lock (_lock)
            {
                return _addresses.ToDictionary(e => e.Key, e => e.Value.State);
            }
        }
    }

    /// <summary>The state of <paramref name="address"/> (unknown when it has no result).</summary>
    public NodeRole StateOf(Multiaddr address)
    {
        ArgumentNullException.ThrowIfNull(address);
        lock (_lock)
        {
            return _addresses.TryGetValue(address.WithoutPeerId(), out ReachabilityTracker? tracker) ? tracker.State : NodeRole.Unknown;
        }
    }

    /// <summary>The agreeing results toward a change of <paramref name="address"/> (0 when none).</summary>
    public int RunOf(Multiaddr address)
    {
        ArgumentNullException.ThrowIfNull(address);
        lock (_lock)
        {
            return _addresses.TryGetValue(address.WithoutPeerId(), out ReachabilityTracker? tracker) ? tracker.Run.Count : 0;
        }
    }

    /// <summary>Records what the server at <paramref name="serverAddress"/> found for <paramref name="address"/>.</summary>
    /// <returns>Whether the address's state changed.</returns>
    public bool Record(Multiaddr address, IPAddress serverAddress, bool reachable)
    {
        ArgumentNullException.ThrowIfNull(address);
        ArgumentNullException.ThrowIfNull(serverAddress);
        address = address.WithoutPeerId();
        ReachabilityTracker tracker;
        lock (_lock)
        {
            if (!_addresses.TryGetValue(address, out tracker!))
            {
                tracker = new ReachabilityTracker(_loggerFactory, Confidence, address);
                _addresses[address] = tracker;
            }
        }

        if (!tracker.Record(serverAddress, reachable ? AutoNatStatus.Ok : AutoNatStatus.DialError))
        {
            return false;
        }

        AddressReachabilityChanged?.Invoke(this, new AddressReachabilityEventArgs(address, tracker.State));
        return true;
    }

    /// <summary>Forgets the addresses not in <paramref name="current"/> (ones the node no longer has).</summary>
    public void Retain(IEnumerable<Multiaddr> current)
    {
        ArgumentNullException.ThrowIfNull(current);
        var keep = current.Select(a => a.WithoutPeerId()).ToHashSet();
        lock (_lock)
        {
            foreach (Multiaddr address in _addresses.Keys.Where(a => !keep.Contains(a)).ToList())
            {
                _addresses.Remove(address);
            }
        }
    }
}

/// <summary>An address whose reachability changed.</summary>
/// <param name="address">The address.</param>
/// <param name="state">Its new state.</param>
public sealed class AddressReachabilityEventArgs(Multiaddr address, NodeRole state) : EventArgs
{
    /// <summary>The address, without <c>/p2p/&lt;id&gt;</c>.</summary>
    public Multiaddr Address { get; } = address;

    /// <summary>Its new state.</summary>
    public NodeRole State { get; } = state;
}
