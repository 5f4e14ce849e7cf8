using System.Diagnostics.CodeAnalysis;
using System.Net;
using System.Net.Sockets;
using CircuitRelay.Abstractions;

namespace CircuitRelay.ReferenceHost.Transports.Memory;

/// <summary>
/// A node on a <see cref="MemoryNetwork"/>, as an <see cref="ITransport"/> for <c>/ip4|ip6/&lt;addr&gt;/tcp/&lt;port&gt;</c>
/// addresses (a trailing <c>/p2p/&lt;id&gt;</c> is accepted and ignored; <c>/p2p-circuit</c> addresses are not
/// this transport's). Connections behave like TCP: byte-exact, with backpressure, half-close, and reset.
/// </summary>
/// <remarks>
/// <para>
/// Listening binds one of the node's addresses, or all of its addresses of a family (<c>0.0.0.0</c>, <c>::</c>);
/// port 0 allocates a free port. A dial takes its source from the node's first address of the destination's family
/// and an ephemeral port (ports are allocated in order from 49152), or the port the node listens on when
/// <see cref="TransportDialOptions.ReuseListenPort"/> is set. The remote sees that source, rewritten by the node's
/// NAT if it is behind one, as the connection's <see cref="ITransportConnection.RemoteAddress"/>.
/// </para>
/// <para>
/// Failures are immediate <see cref="IOException"/>s: nothing listens (connection refused), the accept backlog is
/// full (refused), a NAT filtered the dial, or the node has no address of the destination's family.
/// </para>
/// </remarks>
public sealed class MemoryTransport : ITransport
{
    /// <summary>The first port of the ephemeral range (IANA dynamic ports).</summary>
    internal const int FirstEphemeralPort = 49152;

    private readonly MemoryNetwork _network;
    private readonly IPAddress[] _addresses;
    private readonly List<MemoryListener> _listeners = [];
    private readonly HashSet<int> _ephemeralPorts = [];
    private readonly HashSet<MemoryConnection> _connections = [];
    private int _nextPort = FirstEphemeralPort;

    internal MemoryTransport(MemoryNetwork network, MemoryNat? nat, IPAddress[] addresses)
    {
        _network = network;
        Nat = nat;
        _addresses = addresses;
        Addresses = Array.AsReadOnly(addresses);
    }

    /// <summary>Always <c>memory</c>.</summary>
    public string Name => "memory";

    /// <summary>The node's own addresses (private ones for a node behind a NAT), in the order they were given.</summary>
    public IReadOnlyList<IPAddress> Addresses { get; }

    /// <summary>The NAT the node is behind; <see langword="null"/> on the public side.</summary>
    internal MemoryNat? Nat { get; }

    /// <inheritdoc />
    public bool CanDial(Multiaddr address) => TryParse(address, out _);

    /// <inheritdoc />
    public bool CanListen(Multiaddr address) => TryParse(address, out _);

    /// <inheritdoc />
    /// <exception cref="ArgumentException"><see cref="CanDial"/> refuses the address.</exception>
    public ValueTask<ITransportConnection> DialAsync(Multiaddr address, TransportDialOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(address);
        if (!TryParse(address, out IPEndPoint? destination))
        {
            throw new ArgumentException($"The memory transport cannot dial {address}.", nameof(address));
        }

        if (cancellationToken.IsCancellationRequested)
        {
            return ValueTask.FromCanceled<ITransportConnection>(cancellationToken);
        }

        try
        {
            return ValueTask.FromResult<ITransportConnection>(Dial(destination, options?.ReuseListenPort ?? false));
        }
        catch (IOException ex)
        {
            return ValueTask.FromException<ITransportConnection>(ex);
        }
    }

    /// <inheritdoc />
    /// <exception cref="ArgumentException"><see cref="CanListen"/> refuses the address.</exception>
    public ValueTask<ITransportListener> ListenAsync(Multiaddr address, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(address);
        if (!TryParse(address, out IPEndPoint? endPoint))
        {
            throw new ArgumentException($"The memory transport cannot listen on {address}.", nameof(address));
        }

        if (cancellationToken.IsCancellationRequested)
        {
            return ValueTask.FromCanceled<ITransportListener>(cancellationToken);
        }

        try
        {
            return ValueTask.FromResult<ITransportListener>(Listen(endPoint));
        }
        catch (IOException ex)
        {
            return ValueTask.FromException<ITransportListener>(ex);
        }
    }

    /// <summary>
    /// The node dies: every connection it has (accepted or not, either direction) is reset and every listener is
    /// closed. The node stays on the network and may listen and dial again.
    /// </summary>
    public void AbortAll()
    {
        MemoryListener[] listeners;
        MemoryConnection[] connections;
        lock (_network.Sync)
        {
            listeners = [.. _listeners];
            connections = [.. _connections];
        }

        foreach (MemoryListener listener in listeners)
        {
            listener.Close();
        }

        foreach (MemoryConnection connection in connections)
        {
            connection.Abort();
        }
    }

    /// <summary>The IOException of a dial that nothing answers.</summary>
    internal static IOException Refused(IPEndPoint destination, string why) =>
        new($"Connection refused by {Multiaddr.FromIPEndPoint(destination)}: {why}.");

    /// <summary>Removes a closed listener. Idempotent.</summary>
    internal void Unbind(MemoryListener listener)
    {
        lock (_network.Sync)
        {
            _listeners.Remove(listener);
        }
    }

    private static bool TryParse(Multiaddr address, [NotNullWhen(true)] out IPEndPoint? endPoint)
    {
        endPoint = null;
        if (address is null)
        {
            return false;
        }

        IReadOnlyList<MultiaddrComponent> components = address.Components;
        if (components.Count is < 2 or > 3
            || components[0].Name is not ("ip4" or "ip6")
            || components[1].Name != "tcp"
            || (components.Count == 3 && components[2].Name != "p2p")
            || !address.TryGetIPEndPoint(out IPEndPoint? parsed))
        {
            return false;
        }

        endPoint = new IPEndPoint(MemoryNetwork.Normalize(parsed.Address), parsed.Port);
        return true;
    }

    private MemoryListener Listen(IPEndPoint endPoint)
    {
        lock (_network.Sync)
        {
            _network.ThrowIfDown();
            IPAddress[] addresses;
            if (endPoint.Address.Equals(IPAddress.Any) || endPoint.Address.Equals(IPAddress.IPv6Any))
            {
                addresses = [.. _addresses.Where(a => a.AddressFamily == endPoint.AddressFamily)];
                if (addresses.Length == 0)
                {
                    throw new IOException($"Cannot listen on {Multiaddr.FromIPEndPoint(endPoint)}: the node has no {Family(endPoint.AddressFamily)} address.");
                }
            }
            else if (Array.IndexOf(_addresses, endPoint.Address) >= 0)
            {
                addresses = [endPoint.Address];
            }
            else
            {
                throw new IOException($"Cannot listen on {Multiaddr.FromIPEndPoint(endPoint)}: {endPoint.Address} is not an address of this node.");
            }

            int port = endPoint.Port;
            if (port == 0)
            {
                port = AllocatePort();
            }
            else if (_listeners.Any(l => l.Port == port && addresses.Any(a => l.Covers(new IPEndPoint(a, port)))))
            {
                throw new IOException($"Cannot listen on {Multiaddr.FromIPEndPoint(endPoint)}: the address is already in use.");
            }

            var listener = new MemoryListener(this, [.. addresses.Select(a => new IPEndPoint(a, port))]);
            _listeners.Add(listener);
            return listener;
        }
    }

    private MemoryConnection Dial(IPEndPoint destination, bool reuseListenPort)
    {
        lock (_network.Sync)
        {
            _network.ThrowIfDown();
            IPAddress sourceAddress = _addresses.FirstOrDefault(a => a.AddressFamily == destination.AddressFamily)
                ?? throw new IOException($"Cannot reach {Multiaddr.FromIPEndPoint(destination)}: the network is unreachable (the node has no {Family(destination.AddressFamily)} address).");

            MemoryListener? listening = reuseListenPort ? _listeners.FirstOrDefault(l => l.Covers(new IPEndPoint(sourceAddress, l.Port))) : null;
            bool ephemeral = listening is null;
            int sourcePort = listening?.Port ?? AllocatePort();
            if (ephemeral)
            {
                _ephemeralPorts.Add(sourcePort);
            }

            try
            {
                var source = new IPEndPoint(sourceAddress, sourcePort);
                (MemoryTransport target, IPEndPoint targetEndPoint, IPEndPoint seenSource) = _network.Route(this, source, destination);
                MemoryListener listener = target._listeners.FirstOrDefault(l => l.Covers(targetEndPoint))
                    ?? throw Refused(destination, "nothing listens there");

                var link = new MemoryLink();
                var dialed = Multiaddr.FromIPEndPoint(destination);
                var dialer = new MemoryConnection(link, link.CreateDialerEnd(), ConnectionDirection.Outbound, dialed, Multiaddr.FromIPEndPoint(source), c => Forget(c, ephemeral ? sourcePort : null));
                var acceptor = new MemoryConnection(link, link.CreateAcceptorEnd(), ConnectionDirection.Inbound, Multiaddr.FromIPEndPoint(seenSource), dialed, c => target.Forget(c, null));
                dialer = Track(dialer);
                acceptor = target.Track(acceptor);
                if (!listener.TryEnqueue(acceptor))
                {
                    link.Reset();
                    throw Refused(destination, $"the accept backlog of {MemoryListener.Backlog} is full");
                }

                return dialer;
            }
            catch
            {
                if (ephemeral)
                {
                    _ephemeralPorts.Remove(sourcePort);
                }

                throw;
            }
        }
    }

    private MemoryConnection Track(MemoryConnection connection)
    {
        _connections.Add(connection);
        return connection;
    }

    /// <summary>Drops a closed or reset connection from the node, releasing its ephemeral port. Idempotent.</summary>
    private void Forget(MemoryConnection connection, int? ephemeralPort)
    {
        lock (_network.Sync)
        {
            _connections.Remove(connection);
            if (ephemeralPort is { } port)
            {
                _ephemeralPorts.Remove(port);
            }
        }
    }

    /// <summary>Allocates the next free port in order (skipping listen ports and ephemeral ports in use). Caller holds the lock.</summary>
    private int AllocatePort()
    {
        for (int tried = 0; tried <= IPEndPoint.MaxPort - FirstEphemeralPort; tried++)
        {
            int port = _nextPort;
            _nextPort = port == IPEndPoint.MaxPort ? FirstEphemeralPort : port + 1;
            if (!_ephemeralPorts.Contains(port) && !_listeners.Any(l => l.Port == port))
            {
                return port;
            }
        }

        throw new IOException("The node has no free port left.");
    }

    private static string Family(AddressFamily family) => family == AddressFamily.InterNetworkV6 ? "IPv6" : "IPv4";
}
