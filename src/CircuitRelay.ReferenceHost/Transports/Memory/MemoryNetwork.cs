using System.Net;
using System.Net.Sockets;

namespace CircuitRelay.ReferenceHost.Transports.Memory;

/// <summary>
/// An in-process network for tests and samples: nodes with IPv4 and IPv6 addresses of the caller's choosing, each
/// a <see cref="MemoryTransport"/>, and NAT routers (<see cref="MemoryNat"/>) with nodes behind them. Nothing leaves
/// the process; no sockets are used.
/// </summary>
/// <remarks>
/// Everything is deterministic: ports are allocated in order, there is no randomness and no clock, and a dial
/// succeeds or fails (refused, filtered) before <see cref="MemoryTransport.DialAsync"/> returns. The network is
/// thread-safe. Disposing it resets every connection and closes every listener; afterwards dials and listens fail
/// with an <see cref="IOException"/> and adding nodes or NATs throws <see cref="ObjectDisposedException"/>.
/// </remarks>
public sealed class MemoryNetwork : IDisposable
{
    private readonly Dictionary<IPAddress, MemoryTransport> _publicNodes = [];
    private readonly Dictionary<IPAddress, MemoryNat> _nats = [];
    private readonly List<MemoryTransport> _allNodes = [];
    private bool _disposed;

    /// <summary>Guards the whole network: addresses, NAT tables, listeners, ports and connection sets.</summary>
    internal Lock Sync { get; } = new();

    /// <summary>Creates a node on the public side of the network.</summary>
    /// <param name="addresses">
    /// The node's addresses, IPv4 and/or IPv6 (use documentation ranges such as 198.51.100.0/24 and 2001:db8::/32 in
    /// tests); at least one, none unspecified, none already used by a public node or a NAT.
    /// </param>
    /// <returns>The node's transport.</returns>
    /// <exception cref="ArgumentException">No address, an unspecified address, or an address already in use.</exception>
    /// <exception cref="ObjectDisposedException">The network has been disposed.</exception>
    public MemoryTransport AddNode(params IPAddress[] addresses)
    {
        ArgumentNullException.ThrowIfNull(addresses);
        if (addresses.Length == 0)
        {
            throw new ArgumentException("A node needs at least one address.", nameof(addresses));
        }

        IPAddress[] normalized = new IPAddress[addresses.Length];
        for (int i = 0; i < addresses.Length; i++)
        {
            ArgumentNullException.ThrowIfNull(addresses[i], nameof(addresses));
            normalized[i] = Normalize(addresses[i]);
            ValidateNodeAddress(normalized[i], nameof(addresses));
        }

        lock (Sync)
        {
            ThrowIfDisposed();
            var seen = new HashSet<IPAddress>();
            foreach (IPAddress address in normalized)
            {
                if (!seen.Add(address) || IsPublicAddressTaken(address))
                {
                    throw new ArgumentException($"The address {address} is already in use on the network.", nameof(addresses));
                }
            }

            var node = new MemoryTransport(this, nat: null, normalized);
            foreach (IPAddress address in normalized)
            {
                _publicNodes.Add(address, node);
            }

            Register(node);
            return node;
        }
    }

    /// <summary>Creates a NAT router; add the nodes behind it with <see cref="MemoryNat.AddNode"/>.</summary>
    /// <param name="publicAddress">The NAT's public address (e.g. 203.0.113.1), not used by any public node or other NAT.</param>
    /// <param name="mapping">How the NAT maps and filters.</param>
    /// <returns>The NAT.</returns>
    /// <exception cref="ArgumentException">The address is unspecified or already in use, or the mapping is undefined.</exception>
    /// <exception cref="ObjectDisposedException">The network has been disposed.</exception>
    public MemoryNat AddNat(IPAddress publicAddress, NatMapping mapping)
    {
        ArgumentNullException.ThrowIfNull(publicAddress);
        if (!Enum.IsDefined(mapping))
        {
            throw new ArgumentException($"Unknown NAT mapping {mapping}.", nameof(mapping));
        }

        IPAddress address = Normalize(publicAddress);
        ValidateNodeAddress(address, nameof(publicAddress));
        lock (Sync)
        {
            ThrowIfDisposed();
            if (IsPublicAddressTaken(address))
            {
                throw new ArgumentException($"The address {address} is already in use on the network.", nameof(publicAddress));
            }

            var nat = new MemoryNat(this, address, mapping);
            _nats.Add(address, nat);
            return nat;
        }
    }

    /// <summary>Resets every connection and closes every listener on the network. Idempotent.</summary>
    public void Dispose()
    {
        MemoryTransport[] nodes;
        lock (Sync)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            nodes = [.. _allNodes];
        }

        foreach (MemoryTransport node in nodes)
        {
            node.AbortAll();
        }
    }

    /// <summary>Maps IPv4-mapped IPv6 addresses to IPv4, as <see cref="Multiaddr.FromIPEndPoint"/> does.</summary>
    internal static IPAddress Normalize(IPAddress address) => address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;

    internal static void ValidateNodeAddress(IPAddress address, string paramName)
    {
        if (address.AddressFamily is not (AddressFamily.InterNetwork or AddressFamily.InterNetworkV6))
        {
            throw new ArgumentException($"The address {address} is not IPv4 or IPv6.", paramName);
        }

        if (address.Equals(IPAddress.Any) || address.Equals(IPAddress.IPv6Any))
        {
            throw new ArgumentException("A node's address cannot be unspecified (0.0.0.0 or ::).", paramName);
        }
    }

    /// <summary>Throws when the network is disposed (creating nodes on it is a mistake). Caller holds <see cref="Sync"/>.</summary>
    internal void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(_disposed, this);

    /// <summary>
    /// Throws an <see cref="IOException"/> when the network is disposed: for a node's dials and listens that is a
    /// network failure, which hosts already handle, not a programming error. Caller holds <see cref="Sync"/>.
    /// </summary>
    internal void ThrowIfDown()
    {
        if (_disposed)
        {
            throw new IOException("The memory network has been disposed.");
        }
    }

    /// <summary>Adds a node to the list that <see cref="Dispose"/> resets. Caller holds <see cref="Sync"/>.</summary>
    internal void Register(MemoryTransport node) => _allNodes.Add(node);

    /// <summary>
    /// Routes a dial from <paramref name="dialer"/>, whose source is <paramref name="source"/>, to
    /// <paramref name="destination"/>: through the dialer's NAT when the destination is not on its private network,
    /// and through the destination's NAT when it is a NAT's public address. Caller holds <see cref="Sync"/>.
    /// </summary>
    /// <returns>The node that owns the destination, the endpoint there (after inbound NAT translation) and the source as it sees it.</returns>
    /// <exception cref="IOException">Nothing has that address (refused), or a NAT filtered the dial.</exception>
    internal (MemoryTransport Target, IPEndPoint TargetEndPoint, IPEndPoint SeenSource) Route(MemoryTransport dialer, IPEndPoint source, IPEndPoint destination)
    {
        // Same private network: straight across, no translation.
        if (dialer.Nat is { } lan && lan.TryGetNode(destination.Address, out MemoryTransport? neighbour))
        {
            return (neighbour, destination, source);
        }

        // Out through the dialer's NAT first: the mapping and its filter exist even if the far end drops the dial.
        IPEndPoint seen = dialer.Nat is { } nat ? nat.TranslateOutbound(source, destination) : source;
        if (_publicNodes.TryGetValue(destination.Address, out MemoryTransport? target))
        {
            return (target, destination, seen);
        }

        if (_nats.TryGetValue(destination.Address, out MemoryNat? remoteNat))
        {
            IPEndPoint inside = remoteNat.TranslateInbound(seen, destination.Port);
            if (remoteNat.TryGetNode(inside.Address, out MemoryTransport? behind))
            {
                return (behind, inside, seen);
            }
        }

        throw MemoryTransport.Refused(destination, "no node has that address");
    }

    private bool IsPublicAddressTaken(IPAddress address) => _publicNodes.ContainsKey(address) || _nats.ContainsKey(address);
}
