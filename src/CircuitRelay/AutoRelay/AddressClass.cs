using System.Net;
using System.Net.Sockets;

namespace CircuitRelay.AutoRelay;

/// <summary>Classifies addresses for the relay filters.</summary>
internal static class AddressClass
{
    /// <summary>Whether <paramref name="address"/> is private, loopback, link-local, unspecified or shared (CGNAT) space.</summary>
    public static bool IsPrivate(Multiaddr address)
    {
        if (!address.TryGetIPEndPoint(out IPEndPoint? endPoint))
        {
            return address.Components.Any(c => c.Name is "dns" or "dns4" or "dns6" && c.Value is "localhost");
        }

        IPAddress ip = Internal.Subnet.Unmapped(endPoint.Address);
        if (IPAddress.IsLoopback(ip))
        {
            return true;
        }

        if (ip.AddressFamily == AddressFamily.InterNetwork)
        {
            byte[] b = ip.GetAddressBytes();
            return b[0] == 10 || (b[0] == 172 && b[1] is >= 16 and <= 31) || (b[0] == 192 && b[1] == 168)
                || (b[0] == 169 && b[1] == 254) || (b[0] == 100 && b[1] is >= 64 and <= 127) || b[0] == 0;
        }

        return ip.IsIPv6LinkLocal || ip.IsIPv6UniqueLocal || ip.IsIPv6SiteLocal || ip.Equals(IPAddress.IPv6Any);
    }
}
