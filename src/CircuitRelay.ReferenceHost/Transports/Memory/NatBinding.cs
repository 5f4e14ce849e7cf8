using System.Net;

namespace CircuitRelay.ReferenceHost.Transports.Memory;

/// <summary>One NAT mapping: a private source seen outside as the NAT's public address and <see cref="PublicPort"/>.</summary>
internal sealed class NatBinding(IPEndPoint privateEndPoint, int publicPort, IPEndPoint? destination)
{
    private readonly HashSet<IPAddress> _contacted = [];

    /// <summary>The private source the mapping forwards to.</summary>
    public IPEndPoint PrivateEndPoint { get; } = privateEndPoint;

    /// <summary>The port on the NAT's public address.</summary>
    public int PublicPort { get; } = publicPort;

    /// <summary>The one destination of a symmetric mapping; <see langword="null"/> for an endpoint-independent one.</summary>
    public IPEndPoint? Destination { get; } = destination;

    /// <summary>Records that the mapping sent to <paramref name="destination"/> (opens address-restricted filtering for its IP).</summary>
    public void Sent(IPEndPoint destination) => _contacted.Add(destination.Address);

    /// <summary>Whether an inbound dial from <paramref name="source"/> passes the mapping's filter.</summary>
    public bool Admits(IPEndPoint source) => Destination is { } only ? only.Equals(source) : _contacted.Contains(source.Address);
}
