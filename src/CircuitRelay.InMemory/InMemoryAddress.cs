using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;

namespace CircuitRelay.InMemory;

/// <summary>
/// Builds and reads the <c>/ip4|ip6/&lt;ip&gt;/tcp/&lt;port&gt;</c> multiaddrs of in-memory hosts in the
/// binary multiaddr form (<c>04 &lt;4 bytes&gt; 06 &lt;u16 BE&gt;</c>, or <c>29 &lt;16 bytes&gt; 06 &lt;u16 BE&gt;</c>).
/// </summary>
internal static class InMemoryAddress
{
    private const byte Ip4Code = 0x04;
    private const byte Ip6Code = 0x29;
    private const byte TcpCode = 0x06;

    /// <summary>Creates <c>/ip4/&lt;ip&gt;/tcp/&lt;port&gt;</c> (or <c>/ip6/…</c>).</summary>
    public static Multiaddr Create(IPAddress ip, int port)
    {
        ArgumentNullException.ThrowIfNull(ip);
        ArgumentOutOfRangeException.ThrowIfNegative(port);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(port, ushort.MaxValue);
        bool v4 = ip.AddressFamily == AddressFamily.InterNetwork;
        int ipLength = v4 ? 4 : 16;
        byte[] bytes = new byte[1 + ipLength + 1 + 2];
        bytes[0] = v4 ? Ip4Code : Ip6Code;
        if (!ip.TryWriteBytes(bytes.AsSpan(1, ipLength), out int written) || written != ipLength)
        {
            throw new ArgumentException($"Unsupported address {ip}.", nameof(ip));
        }

        bytes[1 + ipLength] = TcpCode;
        BinaryPrimitives.WriteUInt16BigEndian(bytes.AsSpan(2 + ipLength), (ushort)port);
        return Multiaddr.FromBytes(bytes);
    }

    /// <summary>
    /// Reads the ip and port of an address that starts with <c>/ip4|ip6/…/tcp/…</c>; returns
    /// <see langword="false"/> for any other address.
    /// </summary>
    public static bool TryGetEndPoint(Multiaddr address, out IPEndPoint? endPoint)
    {
        ArgumentNullException.ThrowIfNull(address);
        endPoint = null;
        ReadOnlySpan<byte> bytes = address.ToByteArray();
        int ipLength = bytes.IsEmpty ? 0 : bytes[0] switch
        {
            Ip4Code => 4,
            Ip6Code => 16,
            _ => 0,
        };
        if (ipLength == 0 || bytes.Length < 1 + ipLength + 3 || bytes[1 + ipLength] != TcpCode)
        {
            return false;
        }

        var ip = new IPAddress(bytes.Slice(1, ipLength));
        int port = BinaryPrimitives.ReadUInt16BigEndian(bytes[(2 + ipLength)..]);
        endPoint = new IPEndPoint(ip, port);
        return true;
    }
}
