using System.Globalization;
using System.Net;
using System.Net.Sockets;
using CircuitRelay.Abstractions;

namespace CircuitRelay.ReferenceHost.Transports.Tcp;

/// <summary>
/// Plain TCP as an <see cref="ITransport"/>: dials <c>/ip4|ip6|dns|dns4|dns6/&lt;host&gt;/tcp/&lt;port&gt;</c> (with or
/// without a trailing <c>/p2p/&lt;id&gt;</c>) and listens on <c>/ip4|ip6/&lt;addr&gt;/tcp/&lt;port&gt;</c> (port 0 = any free port).
/// </summary>
/// <remarks>
/// Listening sockets allow address and port reuse, so that a dial with <see cref="TransportDialOptions.ReuseListenPort"/>
/// can bind its socket to the listen port (the remote then sees the same address as for inbound connections, which
/// hole punching needs). Each connection's buffers are bounded: a peer that does not read stalls our writes.
/// </remarks>
public sealed class TcpTransport : ITransport
{
    /// <summary>The accept backlog of a listening socket.</summary>
    public const int ListenBacklog = 512;

    private readonly Lock _lock = new();
    private readonly List<TcpTransportListener> _listeners = [];

    /// <inheritdoc />
    public string Name => "tcp";

    /// <summary>Whether <paramref name="address"/> is <c>/ip4|ip6|dns|dns4|dns6/…/tcp/&lt;port&gt;</c>, optionally followed by <c>/p2p/&lt;id&gt;</c>.</summary>
    public static bool IsDialable(Multiaddr address)
    {
        if (address is null)
        {
            return false;
        }

        IReadOnlyList<MultiaddrComponent> parts = address.WithoutPeerId().Components;
        return parts.Count == 2
            && parts[0].Name is "ip4" or "ip6" or "dns" or "dns4" or "dns6"
            && parts[1].Name == "tcp";
    }

    /// <summary>Whether <paramref name="address"/> is exactly <c>/ip4|ip6/&lt;addr&gt;/tcp/&lt;port&gt;</c>.</summary>
    public static bool IsListenable(Multiaddr address)
    {
        if (address is null)
        {
            return false;
        }

        IReadOnlyList<MultiaddrComponent> parts = address.Components;
        return parts.Count == 2
            && parts[0].Name is "ip4" or "ip6"
            && parts[1].Name == "tcp"
            && address.TryGetIPEndPoint(out _);
    }

    /// <inheritdoc />
    public bool CanDial(Multiaddr address) => IsDialable(address);

    /// <inheritdoc />
    public bool CanListen(Multiaddr address) => IsListenable(address);

    /// <inheritdoc />
    public async ValueTask<ITransportConnection> DialAsync(Multiaddr address, TransportDialOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(address);
        if (!IsDialable(address))
        {
            throw new ArgumentException($"TCP cannot dial '{address}'.", nameof(address));
        }

        IPEndPoint endPoint = address.TryGetIPEndPoint(out IPEndPoint? direct)
            ? direct
            : await ResolveAsync(address, cancellationToken).ConfigureAwait(false);
        var socket = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            if (options?.ReuseListenPort == true && FindListenEndPoint(endPoint.AddressFamily) is { } local)
            {
                AllowReuse(socket);
                socket.Bind(local);
            }

            await socket.ConnectAsync(endPoint, cancellationToken).ConfigureAwait(false);
            return TcpConnection.Create(socket, ConnectionDirection.Outbound);
        }
        catch (SocketException ex)
        {
            socket.Dispose();
            throw new IOException($"Cannot connect to {address}: {ex.Message}", ex);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <inheritdoc />
    public ValueTask<ITransportListener> ListenAsync(Multiaddr address, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(address);
        if (!IsListenable(address) || !address.TryGetIPEndPoint(out IPEndPoint? endPoint))
        {
            throw new ArgumentException($"TCP cannot listen on '{address}'; use /ip4|ip6/<addr>/tcp/<port>.", nameof(address));
        }

        cancellationToken.ThrowIfCancellationRequested();
        var socket = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            AllowReuse(socket);
            socket.Bind(endPoint);
            socket.Listen(ListenBacklog);
        }
        catch (SocketException ex)
        {
            socket.Dispose();
            throw new IOException($"Cannot listen on {address}: {ex.Message}", ex);
        }

        var listener = new TcpTransportListener(this, socket);
        lock (_lock)
        {
            _listeners.Add(listener);
        }

        return ValueTask.FromResult<ITransportListener>(listener);
    }

    internal void Forget(TcpTransportListener listener)
    {
        lock (_lock)
        {
            _listeners.Remove(listener);
        }
    }

    private IPEndPoint? FindListenEndPoint(AddressFamily family)
    {
        lock (_lock)
        {
            return _listeners.Select(l => l.LocalEndPoint).FirstOrDefault(e => e.AddressFamily == family);
        }
    }

    /// <summary>SO_REUSEADDR, and SO_REUSEPORT where the system has it, so a dial can share the listen port.</summary>
    private static void AllowReuse(Socket socket)
    {
        socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
        if (OperatingSystem.IsLinux())
        {
            socket.SetRawSocketOption(1 /* SOL_SOCKET */, 15 /* SO_REUSEPORT */, BitConverter.GetBytes(1));
        }
        else if (OperatingSystem.IsMacOS() || OperatingSystem.IsFreeBSD())
        {
            socket.SetRawSocketOption(0xffff /* SOL_SOCKET */, 0x200 /* SO_REUSEPORT */, BitConverter.GetBytes(1));
        }
    }

    private static async Task<IPEndPoint> ResolveAsync(Multiaddr address, CancellationToken cancellationToken)
    {
        MultiaddrComponent name = address.Components[0];
        MultiaddrComponent tcp = address.Components[1];
        IPAddress[] addresses;
        try
        {
            addresses = await Dns.GetHostAddressesAsync(name.Value!, cancellationToken).ConfigureAwait(false);
        }
        catch (SocketException ex)
        {
            throw new IOException($"'{name.Value}' did not resolve: {ex.Message}", ex);
        }

        IPAddress? chosen = name.Name switch
        {
            "dns4" => addresses.FirstOrDefault(a => a.AddressFamily == AddressFamily.InterNetwork),
            "dns6" => addresses.FirstOrDefault(a => a.AddressFamily == AddressFamily.InterNetworkV6),
            _ => addresses.FirstOrDefault(a => a.AddressFamily == AddressFamily.InterNetworkV6) ?? addresses.FirstOrDefault(),
        };
        return chosen is null
            ? throw new IOException($"'{name.Value}' did not resolve.")
            : new IPEndPoint(chosen, int.Parse(tcp.Value!, CultureInfo.InvariantCulture));
    }
}
