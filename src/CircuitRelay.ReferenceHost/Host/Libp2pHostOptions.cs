using CircuitRelay.Abstractions;
using CircuitRelay.ReferenceHost.Transports.Tcp;

namespace CircuitRelay.ReferenceHost;

/// <summary>Options of <see cref="Libp2pHost"/>.</summary>
public sealed class Libp2pHostOptions
{
    /// <summary>
    /// Addresses to listen on at start, e.g. <c>/ip4/127.0.0.1/tcp/0</c> (port 0 = any free port); each needs a transport
    /// in <see cref="Transports"/> that can listen on it. Empty = dial only (listen later with <see cref="Libp2pHost.ListenAsync"/>).
    /// </summary>
    public IList<string> ListenAddresses { get; } = [];

    /// <summary>
    /// The transports the host dials and listens through, asked in this order (the first whose <c>CanDial</c> or
    /// <c>CanListen</c> accepts an address is used). Empty = TCP only (<see cref="TcpTransport"/>). Transports created
    /// after the host (the circuit transport) are added with <see cref="Libp2pHost.AddTransport"/>.
    /// </summary>
    public IList<ITransport> Transports { get; } = [];

    /// <summary>
    /// The security protocol of every connection: <see cref="SecurityProtocol.Noise"/> (the default, what real peers
    /// speak) or <see cref="SecurityProtocol.Plaintext"/> (<c>/plaintext/2.0.0</c>: keys exchanged and the peer id
    /// checked, nothing encrypted; for fast tests over the memory transport only). Both ends must agree.
    /// </summary>
    public SecurityProtocol Security { get; set; } = SecurityProtocol.Noise;

    /// <summary>The agent version announced by Identify.</summary>
    public string AgentVersion { get; set; } = "circuitrelay-dotnet/" + typeof(Libp2pHostOptions).Assembly.GetName().Version?.ToString(3);

    /// <summary>Deadline for the whole connection upgrade (multistream-select, Noise, muxer). Default 10 seconds.</summary>
    public TimeSpan HandshakeTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Deadline for a transport's dial (a TCP connect, a circuit's hop and stop exchange), before the upgrade. Default 10 seconds.</summary>
    public TimeSpan DialTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Deadline for negotiating the protocol of a new stream. Default 10 seconds.</summary>
    public TimeSpan StreamNegotiationTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Interval of Yamux keep-alive pings; null disables them. Default 30 seconds.</summary>
    public TimeSpan? KeepAliveInterval { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// The receive window a new Yamux stream grants its peer, in bytes: how much the peer may send before this side
    /// reads. At least 256 KiB (the Yamux default). Default 4 MiB, so a fast transfer does not wait for window updates.
    /// </summary>
    public int StreamReceiveWindow { get; set; } = 4 * 1024 * 1024;

    /// <summary>
    /// The largest a stream's receive window grows to while its reader keeps up, in bytes: the most a peer can make
    /// this host buffer per stream. A relay holds up to this much per direction of a circuit whose receiver stalls.
    /// At least <see cref="StreamReceiveWindow"/>. Default 16 MiB (as go-yamux).
    /// </summary>
    public int MaxStreamReceiveWindow { get; set; } = 16 * 1024 * 1024;

    /// <summary>
    /// Inbound connections of any direct (non-relayed) transport open or upgrading at once; one more is reset as soon as
    /// it is accepted (and logged). Outbound and relayed connections do not count. Default 1024.
    /// </summary>
    public int MaxInboundConnections { get; set; } = 1024;

    /// <summary>
    /// Inbound direct connections open or upgrading from one IP address; one more is reset when accepted. 0 = no cap.
    /// Default 32: one address cannot fill <see cref="MaxInboundConnections"/>, nor the pending-handshake places in it.
    /// </summary>
    public int MaxInboundConnectionsPerIp { get; set; } = 32;

    /// <summary>Inbound direct connections open or upgrading from one IPv4 /24 or IPv6 /56 (as go-libp2p's resource manager scopes them). 0 = no cap. Default 128.</summary>
    public int MaxInboundConnectionsPerSubnet { get; set; } = 128;

    /// <summary>
    /// An inbound connection that has carried no stream for this long is closed, unless its peer is protected
    /// (<see cref="IConnectionManagerFeature"/>; the relay protects reservation holders). <see langword="null"/> keeps
    /// idle connections. At <see cref="MaxInboundConnections"/> the longest-idle unprotected one is trimmed for a new
    /// one, whatever this is. Default 2 minutes.
    /// </summary>
    public TimeSpan? InboundIdleTimeout { get; set; } = TimeSpan.FromMinutes(2);

    /// <summary>Throws <see cref="ArgumentException"/> when an option is invalid.</summary>
    public void Validate()
    {
        if (MaxInboundConnections < 1)
        {
            throw new ArgumentException($"MaxInboundConnections is {MaxInboundConnections}; it must be at least 1.", nameof(MaxInboundConnections));
        }

        if (MaxInboundConnectionsPerIp < 0 || MaxInboundConnectionsPerSubnet < 0)
        {
            throw new ArgumentException("MaxInboundConnectionsPerIp and MaxInboundConnectionsPerSubnet must be 0 (no cap) or more.", MaxInboundConnectionsPerIp < 0 ? nameof(MaxInboundConnectionsPerIp) : nameof(MaxInboundConnectionsPerSubnet));
        }

        if (InboundIdleTimeout is { } idle && idle <= TimeSpan.Zero)
        {
            throw new ArgumentException($"InboundIdleTimeout is {idle}; it must be positive, or null to keep idle connections.", nameof(InboundIdleTimeout));
        }

        if (StreamReceiveWindow < 256 * 1024)
        {
            throw new ArgumentException($"StreamReceiveWindow is {StreamReceiveWindow} bytes; it must be at least 262144 (256 KiB, the Yamux default).", nameof(StreamReceiveWindow));
        }

        if (MaxStreamReceiveWindow < StreamReceiveWindow)
        {
            throw new ArgumentException($"MaxStreamReceiveWindow ({MaxStreamReceiveWindow}) is smaller than StreamReceiveWindow ({StreamReceiveWindow}).", nameof(MaxStreamReceiveWindow));
        }

        if (Transports.Any(t => t is null))
        {
            throw new ArgumentException("Transports contains null.", nameof(Transports));
        }

        foreach (string address in ListenAddresses)
        {
            if (!Multiaddr.TryParse(address, out Multiaddr? parsed))
            {
                throw new ArgumentException($"Listen address '{address}' is not a multiaddr.", nameof(ListenAddresses));
            }

            bool listenable = Transports.Count == 0 ? TcpTransport.IsListenable(parsed) : Transports.Any(t => t.CanListen(parsed));
            if (!listenable)
            {
                string names = Transports.Count == 0 ? "tcp" : string.Join(", ", Transports.Select(t => t.Name));
                throw new ArgumentException($"No transport can listen on '{address}' (transports: {names}).", nameof(ListenAddresses));
            }
        }

        if (HandshakeTimeout <= TimeSpan.Zero || DialTimeout <= TimeSpan.Zero || StreamNegotiationTimeout <= TimeSpan.Zero)
        {
            throw new ArgumentException("Timeouts must be positive.");
        }
    }
}
