using System.IO.Pipelines;
using System.Net;
using CircuitRelay.Abstractions;
using CircuitRelay.ReferenceHost.Transports.Memory;

namespace CircuitRelay.ReferenceHost.Tests.Transports.Memory;

/// <summary>Addresses from the documentation ranges and a few connection helpers.</summary>
internal static class MemoryTestSupport
{
    public static readonly IPAddress PublicA = IPAddress.Parse("198.51.100.1");
    public static readonly IPAddress PublicB = IPAddress.Parse("198.51.100.2");
    public static readonly IPAddress PublicV6 = IPAddress.Parse("2001:db8::1");
    public static readonly IPAddress NatA = IPAddress.Parse("203.0.113.1");
    public static readonly IPAddress NatB = IPAddress.Parse("203.0.113.2");
    public static readonly IPAddress Private1 = IPAddress.Parse("192.168.1.2");
    public static readonly IPAddress Private2 = IPAddress.Parse("192.168.1.3");

    public static Multiaddr Addr(string text) => Multiaddr.Parse(text);

    public static Multiaddr TcpAddr(IPAddress address, int port) => Multiaddr.FromIPEndPoint(new IPEndPoint(address, port));

    public static Task<ITransportListener> ListenAsync(this MemoryTransport node, IPAddress address, int port = 0) =>
        node.ListenAsync(TcpAddr(address, port)).Within();

    /// <summary>Dials <paramref name="address"/> and accepts on <paramref name="listener"/>.</summary>
    public static async Task<(ITransportConnection Dialer, ITransportConnection Acceptor)> ConnectAsync(
        this MemoryTransport dialer, ITransportListener listener, Multiaddr address, bool reuseListenPort = false)
    {
        ITransportConnection outbound = await dialer.DialAsync(address, new TransportDialOptions { ReuseListenPort = reuseListenPort }).Within();
        ITransportConnection? inbound = await listener.AcceptAsync().Within();
        inbound.Should().NotBeNull();
        return (outbound, inbound!);
    }

    public static Task<(ITransportConnection Dialer, ITransportConnection Acceptor)> ConnectAsync(this MemoryTransport dialer, ITransportListener listener) =>
        dialer.ConnectAsync(listener, listener.Addresses[0]);

    public static async Task SendAsync(this PipeWriter writer, byte[] bytes)
    {
        FlushResult result = await writer.WriteAsync(bytes).Within();
        result.IsCompleted.Should().BeFalse("the remote still reads");
    }
}
