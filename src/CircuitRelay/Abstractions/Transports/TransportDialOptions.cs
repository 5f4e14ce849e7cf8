namespace CircuitRelay.Abstractions;

/// <summary>How a transport dials (see <see cref="ITransport.DialAsync"/>).</summary>
public sealed class TransportDialOptions
{
    /// <summary>
    /// Dial from the port this node listens on (TCP: bind the socket to the listen port with address reuse),
    /// so the remote sees the same mapping as for inbound connections. Hole punching needs it.
    /// </summary>
    public bool ReuseListenPort { get; init; }
}
