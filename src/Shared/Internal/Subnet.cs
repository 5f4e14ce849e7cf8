using System.Net;
using System.Net.Sockets;

namespace CircuitRelay.Internal;

/// <summary>
/// The network an IP address belongs to, as a CIDR string (<c>192.0.2.0/24</c>, <c>2001:db8:1::/48</c>): the one key
/// for every "one per network" rule (relay diversity, AutoNAT's distinct servers, inbound caps per subnet).
/// </summary>
internal static class Subnet
{
    /// <summary>The network of <paramref name="address"/> with an IPv4 prefix of <paramref name="ipv4Bits"/> and an IPv6 prefix of <paramref name="ipv6Bits"/> bits.</summary>
    public static string Of(IPAddress address, int ipv4Bits = 24, int ipv6Bits = 48)
    {
        IPAddress ip = Unmapped(address);
        int bits = ip.AddressFamily == AddressFamily.InterNetwork ? ipv4Bits : ipv6Bits;
        byte[] bytes = ip.GetAddressBytes();
        for (int i = 0; i < bytes.Length; i++)
        {
            int keep = Math.Clamp(bits - (i * 8), 0, 8);
            bytes[i] &= (byte)(0xFF << (8 - keep));
        }

        return $"{new IPAddress(bytes)}/{bits}";
    }

    /// <summary><paramref name="address"/> as IPv4 when it is an IPv4-mapped IPv6 address (<c>::ffff:192.0.2.1</c>), else itself.</summary>
    public static IPAddress Unmapped(IPAddress address) => address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;
}
