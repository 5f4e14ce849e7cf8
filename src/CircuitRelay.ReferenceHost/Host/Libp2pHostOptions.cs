namespace CircuitRelay.ReferenceHost;

/// <summary>Options of <see cref="Libp2pHost"/>.</summary>
public sealed class Libp2pHostOptions
{
    /// <summary>TCP addresses to listen on, e.g. <c>/ip4/127.0.0.1/tcp/0</c> (port 0 = any free port). Empty = dial only.</summary>
    public IList<string> ListenAddresses { get; } = [];

    /// <summary>The agent version announced by Identify.</summary>
    public string AgentVersion { get; set; } = "circuitrelay-dotnet/" + typeof(Libp2pHostOptions).Assembly.GetName().Version?.ToString(3);

    /// <summary>Deadline for the whole connection upgrade (multistream-select, Noise, muxer). Default 10 seconds.</summary>
    public TimeSpan HandshakeTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Deadline for a TCP connect. Default 10 seconds.</summary>
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
    /// Inbound TCP connections open or upgrading at once; one more is reset as soon as it is accepted (and logged).
    /// Outbound and relayed connections do not count. Default 1024.
    /// </summary>
    public int MaxInboundConnections { get; set; } = 1024;

    /// <summary>Throws <see cref="ArgumentException"/> when an option is invalid.</summary>
    public void Validate()
    {
        if (MaxInboundConnections < 1)
        {
            throw new ArgumentException($"MaxInboundConnections is {MaxInboundConnections}; it must be at least 1.", nameof(MaxInboundConnections));
        }

        if (StreamReceiveWindow < 256 * 1024)
        {
            throw new ArgumentException($"StreamReceiveWindow is {StreamReceiveWindow} bytes; it must be at least 262144 (256 KiB, the Yamux default).", nameof(StreamReceiveWindow));
        }

        if (MaxStreamReceiveWindow < StreamReceiveWindow)
        {
            throw new ArgumentException($"MaxStreamReceiveWindow ({MaxStreamReceiveWindow}) is smaller than StreamReceiveWindow ({StreamReceiveWindow}).", nameof(MaxStreamReceiveWindow));
        }

        foreach (string address in ListenAddresses)
        {
            Multiaddr parsed = Multiaddr.Parse(address);
            if (!parsed.TryGetIPEndPoint(out _))
            {
                throw new ArgumentException($"Listen address '{address}' is not /ip4|ip6/<addr>/tcp/<port>.", nameof(ListenAddresses));
            }
        }

        if (HandshakeTimeout <= TimeSpan.Zero || DialTimeout <= TimeSpan.Zero || StreamNegotiationTimeout <= TimeSpan.Zero)
        {
            throw new ArgumentException("Timeouts must be positive.");
        }
    }
}
