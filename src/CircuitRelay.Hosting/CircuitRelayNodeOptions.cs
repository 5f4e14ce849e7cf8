using CircuitRelay.Adverts;
using CircuitRelay.AutoNat;

namespace CircuitRelay.Hosting;

/// <summary>
/// The node as a whole (configuration section <c>CircuitRelay:Node</c>): its role, when it serves as a relay, the
/// relays it may use, and how long a stop may take.
/// </summary>
public sealed class CircuitRelayNodeOptions
{
    /// <summary>A role that overrides AutoNAT (<see cref="NodeRole.Unknown"/>: AutoNAT decides, or unknown without it). Default unknown.</summary>
    public NodeRole Role { get; set; }

    /// <summary>When the node serves as a relay (with <see cref="CircuitRelayBuilder.AddRelayServer"/>). Default <see cref="RelayServiceMode.Auto"/>: while public.</summary>
    public RelayServiceMode RelayService { get; set; }

    /// <summary>Relay candidates, with or without <c>/p2p/&lt;id&gt;</c> (AutoRelay probes the bare ones).</summary>
    public IList<string> RelayCandidates { get; } = [];

    /// <summary>Relays to keep a reservation on whatever the role (each ending in <c>/p2p/&lt;id&gt;</c>).</summary>
    public IList<string> StaticRelays { get; } = [];

    /// <summary>How long a stop waits for the relay's circuits to end before closing everything. Default 10 seconds.</summary>
    public TimeSpan ShutdownTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Throws <see cref="ArgumentException"/> naming the option that is invalid.</summary>
    public void Validate()
    {
        if (ShutdownTimeout < TimeSpan.Zero)
        {
            throw new ArgumentException($"ShutdownTimeout is {ShutdownTimeout}; it must not be negative.", nameof(ShutdownTimeout));
        }

        foreach ((string name, IList<string> addresses) in new[] { (nameof(RelayCandidates), RelayCandidates), (nameof(StaticRelays), StaticRelays) })
        {
            for (int i = 0; i < addresses.Count; i++)
            {
                if (!Multiaddr.TryParse(addresses[i], out Multiaddr? address))
                {
                    throw new ArgumentException($"{name}:{i} '{addresses[i]}' is not a multiaddr.", name);
                }

                if (name == nameof(StaticRelays) && (address.IsRelayed || address.GetPeerId() is null))
                {
                    throw new ArgumentException($"{name}:{i} '{addresses[i]}' must be a direct address ending in /p2p/<relay id>.", name);
                }
            }
        }
    }
}

/// <summary>
/// The reference host (configuration section <c>CircuitRelay:Host</c>): where it listens, its persisted identity, and the
/// addresses it is known to be reachable at.
/// </summary>
public sealed class ReferenceHostSettings
{
    /// <summary>Addresses to listen on, e.g. <c>/ip4/0.0.0.0/tcp/4001</c>. None: dial only (a private node).</summary>
    public IList<string> ListenAddresses { get; } = [];

    /// <summary>An Ed25519 key file (libp2p protobuf private-key format), created on first start. None: a fresh identity each start.</summary>
    public string? IdentityPath { get; set; }

    /// <summary>Addresses others reach this node at (a port forwarded by hand, a known public address).</summary>
    public IList<string> ExternalAddresses { get; } = [];

    /// <summary>Inbound connections at most (the host's cap). Default 1024.</summary>
    public int MaxInboundConnections { get; set; } = 1024;

    /// <summary>Throws <see cref="ArgumentException"/> naming the option that is invalid.</summary>
    public void Validate()
    {
        foreach ((string name, IList<string> addresses) in new[] { (nameof(ListenAddresses), ListenAddresses), (nameof(ExternalAddresses), ExternalAddresses) })
        {
            for (int i = 0; i < addresses.Count; i++)
            {
                if (!Multiaddr.TryParse(addresses[i], out _))
                {
                    throw new ArgumentException($"{name}:{i} '{addresses[i]}' is not a multiaddr.", name);
                }
            }
        }

        if (MaxInboundConnections < 1)
        {
            throw new ArgumentException($"MaxInboundConnections is {MaxInboundConnections}; it must be at least 1.", nameof(MaxInboundConnections));
        }
    }
}
