using System.Buffers.Binary;
using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using CircuitRelay.Multiformats;

namespace CircuitRelay;

/// <summary>How a multiaddr protocol's value is encoded in text and in binary.</summary>
internal enum MultiaddrValueKind
{
    /// <summary>No value.</summary>
    None,

    /// <summary>4-byte IPv4 address, dotted decimal.</summary>
    IPv4,

    /// <summary>16-byte IPv6 address, RFC 5952 text.</summary>
    IPv6,

    /// <summary>2-byte big-endian port, decimal.</summary>
    Port,

    /// <summary>Length-prefixed UTF-8 text: non-empty, no <c>/</c> (dns*, sni, ip6zone).</summary>
    Name,

    /// <summary>Length-prefixed peer id multihash, base58btc (or CIDv1) text.</summary>
    PeerId,

    /// <summary>Length-prefixed multihash, multibase text (emitted as base64url).</summary>
    Certhash,
}

/// <summary>One row of the multiaddr protocol table (multiformats/multiaddr protocols.csv).</summary>
internal sealed class MultiaddrProtocol
{
    /// <summary>Variable-length value marker for <see cref="Size"/>.</summary>
    public const int VariableSize = -1;

    public const int Ip4Code = 0x04;
    public const int TcpCode = 0x06;
    public const int Ip6Code = 0x29;
    public const int Ip6ZoneCode = 0x2a;
    public const int DnsCode = 0x35;
    public const int Dns4Code = 0x36;
    public const int Dns6Code = 0x37;
    public const int DnsAddrCode = 0x38;
    public const int UdpCode = 0x0111;
    public const int WebRtcDirectCode = 0x0118;
    public const int WebRtcCode = 0x0119;
    public const int P2pCircuitCode = 0x0122;
    public const int P2pCode = 0x01a5;
    public const int TlsCode = 0x01c0;
    public const int SniCode = 0x01c1;
    public const int NoiseCode = 0x01c6;
    public const int QuicCode = 0x01cc;
    public const int QuicV1Code = 0x01cd;
    public const int WebTransportCode = 0x01d1;
    public const int CerthashCode = 0x01d2;
    public const int WsCode = 0x01dd;
    public const int WssCode = 0x01de;
    public const int HttpCode = 0x01e0;

    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    private static readonly MultiaddrProtocol[] All =
    [
        new("ip4", Ip4Code, 4, MultiaddrValueKind.IPv4),
        new("tcp", TcpCode, 2, MultiaddrValueKind.Port),
        new("ip6", Ip6Code, 16, MultiaddrValueKind.IPv6),
        new("ip6zone", Ip6ZoneCode, VariableSize, MultiaddrValueKind.Name),
        new("dns", DnsCode, VariableSize, MultiaddrValueKind.Name),
        new("dns4", Dns4Code, VariableSize, MultiaddrValueKind.Name),
        new("dns6", Dns6Code, VariableSize, MultiaddrValueKind.Name),
        new("dnsaddr", DnsAddrCode, VariableSize, MultiaddrValueKind.Name),
        new("udp", UdpCode, 2, MultiaddrValueKind.Port),
        new("webrtc-direct", WebRtcDirectCode, 0, MultiaddrValueKind.None),
        new("webrtc", WebRtcCode, 0, MultiaddrValueKind.None),
        new("p2p-circuit", P2pCircuitCode, 0, MultiaddrValueKind.None),
        new("p2p", P2pCode, VariableSize, MultiaddrValueKind.PeerId),
        new("tls", TlsCode, 0, MultiaddrValueKind.None),
        new("sni", SniCode, VariableSize, MultiaddrValueKind.Name),
        new("noise", NoiseCode, 0, MultiaddrValueKind.None),
        new("quic", QuicCode, 0, MultiaddrValueKind.None),
        new("quic-v1", QuicV1Code, 0, MultiaddrValueKind.None),
        new("webtransport", WebTransportCode, 0, MultiaddrValueKind.None),
        new("certhash", CerthashCode, VariableSize, MultiaddrValueKind.Certhash),
        new("ws", WsCode, 0, MultiaddrValueKind.None),
        new("wss", WssCode, 0, MultiaddrValueKind.None),
        new("http", HttpCode, 0, MultiaddrValueKind.None),
    ];

    private static readonly Dictionary<int, MultiaddrProtocol> ByCode = All.ToDictionary(p => p.Code);

    private static readonly Dictionary<string, MultiaddrProtocol> ByName = CreateNameIndex();

    private MultiaddrProtocol(string name, int code, int size, MultiaddrValueKind kind)
    {
        Name = name;
        Code = code;
        Size = size;
        Kind = kind;
        EncodedCode = Varint.Encode((ulong)code);
    }

    /// <summary>The canonical text name.</summary>
    public string Name { get; }

    /// <summary>The multicodec.</summary>
    public int Code { get; }

    /// <summary>The value size in bytes: 0 (no value), a fixed size, or <see cref="VariableSize"/>.</summary>
    public int Size { get; }

    /// <summary>The value codec.</summary>
    public MultiaddrValueKind Kind { get; }

    /// <summary>The varint encoding of <see cref="Code"/>.</summary>
    public byte[] EncodedCode { get; }

    /// <summary>Whether the protocol carries a value.</summary>
    public bool HasValue => Size != 0;

    /// <summary>Every supported protocol.</summary>
    public static IReadOnlyList<MultiaddrProtocol> Protocols => All;

    public static bool TryGet(ulong code, [NotNullWhen(true)] out MultiaddrProtocol? protocol)
    {
        protocol = null;
        return code <= int.MaxValue && ByCode.TryGetValue((int)code, out protocol);
    }

    public static bool TryGet(string name, [NotNullWhen(true)] out MultiaddrProtocol? protocol) =>
        ByName.TryGetValue(name, out protocol);

    public static MultiaddrProtocol Get(int code) => ByCode[code];

    /// <summary>Parses a text value into its binary value (without length prefix).</summary>
    public bool TryParseValue(string text, [NotNullWhen(true)] out byte[]? value, out PeerId? peerId, [NotNullWhen(false)] out string? error)
    {
        value = null;
        peerId = null;
        error = null;
        switch (Kind)
        {
            case MultiaddrValueKind.IPv4:
                if (TryParseIPv4(text, out value))
                {
                    return true;
                }

                error = $"'{text}' is not a dotted-decimal IPv4 address.";
                return false;

            case MultiaddrValueKind.IPv6:
                if (TryParseIPv6(text, out value))
                {
                    return true;
                }

                error = $"'{text}' is not an IPv6 address.";
                return false;

            case MultiaddrValueKind.Port:
                if (TryParsePort(text, out value))
                {
                    return true;
                }

                error = $"'{text}' is not a port number (0 to 65535).";
                return false;

            case MultiaddrValueKind.Name:
                if (text.Length == 0)
                {
                    error = $"The {Name} value is empty.";
                    return false;
                }

                try
                {
                    value = StrictUtf8.GetBytes(text);
                }
                catch (EncoderFallbackException)
                {
                    error = $"The {Name} value is not valid Unicode text.";
                    return false;
                }

                return true;

            case MultiaddrValueKind.PeerId:
                if (PeerId.TryParse(text, out peerId))
                {
                    value = peerId.ToByteArray();
                    return true;
                }

                error = $"'{text}' is not a peer id.";
                return false;

            case MultiaddrValueKind.Certhash:
                if (Multibase.TryDecode(text, out byte[] hash, out string? multibaseError)
                    && Multihash.TryParse(hash, out _, out _, out _))
                {
                    value = hash;
                    return true;
                }

                error = multibaseError is null
                    ? $"The certhash '{text}' is not a multihash."
                    : $"The certhash '{text}' is not valid multibase: {multibaseError}";
                return false;

            default:
                error = $"The protocol {Name} takes no value.";
                return false;
        }
    }

    /// <summary>Validates a binary value and produces its text form.</summary>
    public bool TryFormatValue(ReadOnlySpan<byte> value, out string? text, out PeerId? peerId, [NotNullWhen(false)] out string? error)
    {
        text = null;
        peerId = null;
        error = null;
        switch (Kind)
        {
            case MultiaddrValueKind.None:
                return true;

            case MultiaddrValueKind.IPv4:
                text = string.Create(CultureInfo.InvariantCulture, $"{value[0]}.{value[1]}.{value[2]}.{value[3]}");
                return true;

            case MultiaddrValueKind.IPv6:
                text = FormatIPv6(value);
                return true;

            case MultiaddrValueKind.Port:
                text = BinaryPrimitives.ReadUInt16BigEndian(value).ToString(CultureInfo.InvariantCulture);
                return true;

            case MultiaddrValueKind.Name:
                if (value.IsEmpty)
                {
                    error = $"The {Name} value is empty.";
                    return false;
                }

                if (!System.Text.Unicode.Utf8.IsValid(value))
                {
                    error = $"The {Name} value is not valid UTF-8.";
                    return false;
                }

                text = StrictUtf8.GetString(value);
                if (text.Contains('/', StringComparison.Ordinal))
                {
                    error = $"The {Name} value contains '/'.";
                    return false;
                }

                return true;

            case MultiaddrValueKind.PeerId:
                if (!PeerId.TryCreate(value, out peerId, out string? peerError))
                {
                    error = peerError;
                    return false;
                }

                text = peerId.ToString();
                return true;

            case MultiaddrValueKind.Certhash:
                if (!Multihash.TryParse(value, out _, out _, out _))
                {
                    error = "The certhash value is not a multihash.";
                    return false;
                }

                text = Multibase.Encode(Multibase.Base64Url, value);
                return true;

            default:
                error = $"Unsupported value kind {Kind}.";
                return false;
        }
    }

    /// <summary>Formats an IPv6 address as RFC 5952 text (IPv4-mapped addresses as <c>::ffff:a.b.c.d</c>).</summary>
    internal static string FormatIPv6(ReadOnlySpan<byte> address)
    {
        if (address[..10].IndexOfAnyExcept((byte)0) < 0 && address[10] == 0xff && address[11] == 0xff)
        {
            return string.Create(CultureInfo.InvariantCulture, $"::ffff:{address[12]}.{address[13]}.{address[14]}.{address[15]}");
        }

        Span<ushort> groups = stackalloc ushort[8];
        for (int i = 0; i < 8; i++)
        {
            groups[i] = BinaryPrimitives.ReadUInt16BigEndian(address[(2 * i)..]);
        }

        // Longest run of two or more zero groups; the first one wins a tie (RFC 5952 section 4.2).
        int bestStart = -1;
        int bestLength = 1;
        for (int i = 0; i < 8;)
        {
            if (groups[i] != 0)
            {
                i++;
                continue;
            }

            int start = i;
            while (i < 8 && groups[i] == 0)
            {
                i++;
            }

            if (i - start > bestLength)
            {
                bestStart = start;
                bestLength = i - start;
            }
        }

        var builder = new StringBuilder(39);
        for (int i = 0; i < 8; i++)
        {
            if (i == bestStart)
            {
                builder.Append("::");
                i += bestLength - 1;
                continue;
            }

            if (builder.Length > 0 && builder[^1] != ':')
            {
                builder.Append(':');
            }

            builder.Append(groups[i].ToString("x", CultureInfo.InvariantCulture));
        }

        return builder.ToString();
    }

    private static bool TryParseIPv4(string text, [NotNullWhen(true)] out byte[]? value)
    {
        value = null;
        var bytes = new byte[4];
        int part = 0;
        int i = 0;
        while (true)
        {
            int start = i;
            int number = 0;
            while (i < text.Length && char.IsAsciiDigit(text[i]) && i - start < 3)
            {
                number = (number * 10) + (text[i] - '0');
                i++;
            }

            int digits = i - start;
            if (digits == 0 || number > 255 || (digits > 1 && text[start] == '0'))
            {
                return false;
            }

            bytes[part++] = (byte)number;
            if (part == 4)
            {
                break;
            }

            if (i >= text.Length || text[i] != '.')
            {
                return false;
            }

            i++;
        }

        if (i != text.Length)
        {
            return false;
        }

        value = bytes;
        return true;
    }

    private static bool TryParseIPv6(string text, [NotNullWhen(true)] out byte[]? value)
    {
        value = null;

        // IPAddress.TryParse also accepts brackets, scope ids and IPv4 text; allow only the plain forms.
        if (text.Length == 0 || !text.Contains(':', StringComparison.Ordinal))
        {
            return false;
        }

        foreach (char c in text)
        {
            if (!char.IsAsciiHexDigit(c) && c != ':' && c != '.')
            {
                return false;
            }
        }

        if (!IPAddress.TryParse(text, out IPAddress? address) || address.AddressFamily != AddressFamily.InterNetworkV6)
        {
            return false;
        }

        value = address.GetAddressBytes();
        return true;
    }

    private static bool TryParsePort(string text, [NotNullWhen(true)] out byte[]? value)
    {
        value = null;
        if (text.Length is 0 or > 5)
        {
            return false;
        }

        int port = 0;
        foreach (char c in text)
        {
            if (!char.IsAsciiDigit(c))
            {
                return false;
            }

            port = (port * 10) + (c - '0');
        }

        if (port > ushort.MaxValue)
        {
            return false;
        }

        value = new byte[2];
        BinaryPrimitives.WriteUInt16BigEndian(value, (ushort)port);
        return true;
    }

    private static Dictionary<string, MultiaddrProtocol> CreateNameIndex()
    {
        var index = All.ToDictionary(p => p.Name, StringComparer.Ordinal);
        index.Add("ipfs", index["p2p"]);
        return index;
    }
}
