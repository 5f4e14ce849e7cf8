using System.Net;

namespace CircuitRelay.ReferenceHost.Transports.Memory;

/// <summary>
/// A simulated NAT router on a <see cref="MemoryNetwork"/>: one public address in front of a private network of
/// nodes created with <see cref="AddNode"/>. Outbound dials from those nodes are rewritten to the public address and
/// a mapped port (see <see cref="NatMapping"/>); inbound dials to the public address get through only on a mapping
/// whose filter admits the source, and fail at once with an <see cref="IOException"/> otherwise (a real NAT drops
/// the SYN; failing at once keeps tests deterministic).
/// </summary>
/// <remarks>
/// Nodes behind the same NAT reach each other on their private addresses. Mappings never expire (the network has
/// no clock) and public ports are allocated in order from 40000, so tests are reproducible. A dial that is refused
/// or filtered at the far end still creates its mapping and opens its filter, which is what hole punching relies on.
/// </remarks>
public sealed class MemoryNat
{
    /// <summary>The first public port a NAT maps to.</summary>
    internal const int FirstPublicPort = 40000;

    private readonly MemoryNetwork _network;
    private readonly Dictionary<IPAddress, MemoryTransport> _nodes = [];
    private readonly Dictionary<(IPEndPoint Source, IPEndPoint? Destination), NatBinding> _bindings = [];
    private readonly Dictionary<int, NatBinding> _byPublicPort = [];
    private int _nextPublicPort = FirstPublicPort;

    internal MemoryNat(MemoryNetwork network, IPAddress publicAddress, NatMapping mapping)
    {
        _network = network;
        PublicAddress = publicAddress;
        Mapping = mapping;
    }

    /// <summary>The NAT's address on the public side of the network.</summary>
    public IPAddress PublicAddress { get; }

    /// <summary>How the NAT maps and filters.</summary>
    public NatMapping Mapping { get; }

    /// <summary>Creates a node on the NAT's private network.</summary>
    /// <param name="privateAddress">
    /// The node's private address (e.g. 192.168.1.2), of the same family as <see cref="PublicAddress"/> and unique
    /// behind this NAT; other NATs may use it too.
    /// </param>
    /// <returns>The node's transport.</returns>
    /// <exception cref="ArgumentException">The address is unspecified, of the other family, or already used behind this NAT.</exception>
    /// <exception cref="ObjectDisposedException">The network has been disposed.</exception>
    public MemoryTransport AddNode(IPAddress privateAddress)
    {
        ArgumentNullException.ThrowIfNull(privateAddress);
        IPAddress address = MemoryNetwork.Normalize(privateAddress);
        if (address.AddressFamily != PublicAddress.AddressFamily)
        {
            throw new ArgumentException($"The NAT's public address {PublicAddress} is {PublicAddress.AddressFamily}; {address} is not.", nameof(privateAddress));
        }

        lock (_network.Sync)
        {
            _network.ThrowIfDisposed();
            MemoryNetwork.ValidateNodeAddress(address, nameof(privateAddress));
            if (_nodes.ContainsKey(address))
            {
                throw new ArgumentException($"The address {address} is already used behind the NAT at {PublicAddress}.", nameof(privateAddress));
            }

            var node = new MemoryTransport(_network, this, [address]);
            _nodes.Add(address, node);
            _network.Register(node);
            return node;
        }
    }

    /// <summary>Returns the node behind this NAT that owns <paramref name="address"/>. Caller holds the network lock.</summary>
    internal bool TryGetNode(IPAddress address, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out MemoryTransport? node) =>
        _nodes.TryGetValue(address, out node);

    /// <summary>
    /// Rewrites the source of an outbound dial: finds or creates the mapping and records the destination in its
    /// filter. Caller holds the network lock.
    /// </summary>
    /// <exception cref="IOException">The NAT has no public port left.</exception>
    internal IPEndPoint TranslateOutbound(IPEndPoint source, IPEndPoint destination)
    {
        (IPEndPoint, IPEndPoint?) key = (source, Mapping == NatMapping.Symmetric ? destination : null);
        if (!_bindings.TryGetValue(key, out NatBinding? binding))
        {
            if (_nextPublicPort > IPEndPoint.MaxPort)
            {
                throw new IOException($"The NAT at {PublicAddress} has no public port left to map {source}.");
            }

            binding = new NatBinding(source, _nextPublicPort++, key.Item2);
            _bindings.Add(key, binding);
            _byPublicPort.Add(binding.PublicPort, binding);
        }

        binding.Sent(destination);
        return new IPEndPoint(PublicAddress, binding.PublicPort);
    }

    /// <summary>
    /// Forwards an inbound dial from <paramref name="source"/> to <c>PublicAddress:</c><paramref name="publicPort"/>:
    /// returns the private endpoint it maps to. Caller holds the network lock.
    /// </summary>
    /// <exception cref="IOException">No mapping uses the port, or its filter does not admit the source.</exception>
    internal IPEndPoint TranslateInbound(IPEndPoint source, int publicPort)
    {
        var dialed = Multiaddr.FromIPEndPoint(new IPEndPoint(PublicAddress, publicPort));
        if (!_byPublicPort.TryGetValue(publicPort, out NatBinding? binding))
        {
            throw new IOException($"Filtered by the NAT at {PublicAddress}: no mapping uses {dialed}, so the dial from {Multiaddr.FromIPEndPoint(source)} was dropped.");
        }

        if (!binding.Admits(source))
        {
            string rule = binding.Destination is { } only
                ? $"the symmetric mapping admits only {Multiaddr.FromIPEndPoint(only)}"
                : $"the mapping has not sent to {source.Address}";
            throw new IOException($"Filtered by the NAT at {PublicAddress}: {rule}, so the dial from {Multiaddr.FromIPEndPoint(source)} to {dialed} was dropped.");
        }

        return binding.PrivateEndPoint;
    }
}
