using System.Buffers.Binary;
using System.Collections.ObjectModel;
using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using CircuitRelay.Multiformats;

namespace CircuitRelay;

/// <summary>
/// A self-describing network address (multiformats/multiaddr), e.g.
/// <c>/ip4/198.51.100.1/tcp/4001/p2p/12D3KooW…</c>. Immutable; equality is on the binary form.
/// </summary>
/// <remarks>
/// Supported protocols: ip4, tcp, ip6, ip6zone, dns, dns4, dns6, dnsaddr, udp, p2p (text alias ipfs),
/// p2p-circuit, tls, sni, noise, quic, quic-v1, webtransport, certhash, ws, wss, webrtc-direct,
/// webrtc, http. Anything else is rejected with a <see cref="FormatException"/>.
/// </remarks>
public sealed class Multiaddr : IEquatable<Multiaddr>
{
    private readonly byte[] _bytes;
    private readonly MultiaddrComponent[] _components;
    private ReadOnlyCollection<MultiaddrComponent>? _componentView;
    private string? _text;

    private Multiaddr(byte[] bytes, MultiaddrComponent[] components)
    {
        _bytes = bytes;
        _components = components;
    }

    /// <summary>The empty address (no components); its text form is the empty string.</summary>
    public static Multiaddr Empty { get; } = new([], []);

    /// <summary>The components, in order.</summary>
    public IReadOnlyList<MultiaddrComponent> Components => _componentView ??= Array.AsReadOnly(_components);

    /// <summary>Whether the address has no components.</summary>
    public bool IsEmpty => _components.Length == 0;

    /// <summary>Whether the address goes through a relay (contains <c>/p2p-circuit</c>).</summary>
    public bool IsRelayed => IndexOf(MultiaddrProtocol.P2pCircuitCode) >= 0;

    /// <summary>Parses the text form, e.g. <c>/ip4/127.0.0.1/udp/1234</c>.</summary>
    /// <param name="text">The text; the empty string is <see cref="Empty"/>. One trailing <c>/</c> is tolerated.</param>
    /// <returns>The address.</returns>
    /// <exception cref="FormatException">The text is malformed: unknown protocol, missing or invalid value, bad peer id, …</exception>
    public static Multiaddr Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return TryParseCore(text, out Multiaddr? addr, out string? error)
            ? addr
            : throw new FormatException($"Invalid multiaddr '{Truncate(text)}': {error}");
    }

    /// <summary>Parses the text form without throwing.</summary>
    /// <param name="text">The text.</param>
    /// <param name="addr">The address, when valid.</param>
    /// <returns>Whether the text is a valid multiaddr.</returns>
    public static bool TryParse([NotNullWhen(true)] string? text, [NotNullWhen(true)] out Multiaddr? addr)
    {
        if (text is null)
        {
            addr = null;
            return false;
        }

        return TryParseCore(text, out addr, out _);
    }

    /// <summary>Parses the binary form: <c>(uvarint code, value)*</c>.</summary>
    /// <param name="bytes">The bytes; empty is <see cref="Empty"/>.</param>
    /// <returns>The address.</returns>
    /// <exception cref="FormatException">Unknown protocol code, truncated or invalid value, bad length.</exception>
    public static Multiaddr FromBytes(ReadOnlySpan<byte> bytes) =>
        TryDecode(bytes, out Multiaddr? addr, out string? error) ? addr : throw new FormatException($"Invalid binary multiaddr: {error}");

    /// <summary>Parses the binary form without throwing.</summary>
    /// <param name="bytes">The bytes.</param>
    /// <param name="addr">The address, when valid.</param>
    /// <returns>Whether the bytes are a valid multiaddr.</returns>
    public static bool TryFromBytes(ReadOnlySpan<byte> bytes, [NotNullWhen(true)] out Multiaddr? addr) =>
        TryDecode(bytes, out addr, out _);

    /// <summary>Returns <c>/ip4/&lt;address&gt;/tcp/&lt;port&gt;</c> or <c>/ip6/&lt;address&gt;/tcp/&lt;port&gt;</c>.</summary>
    /// <param name="endPoint">The TCP endpoint. IPv4-mapped IPv6 addresses become <c>ip4</c>; an IPv6 scope id becomes a leading <c>/ip6zone</c>.</param>
    /// <returns>The address.</returns>
    public static Multiaddr FromIPEndPoint(IPEndPoint endPoint)
    {
        ArgumentNullException.ThrowIfNull(endPoint);
        IPAddress address = endPoint.Address;
        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }

        var components = new List<MultiaddrComponent>(3);
        if (address.AddressFamily == AddressFamily.InterNetwork)
        {
            components.Add(CreateComponent(MultiaddrProtocol.Ip4Code, address.GetAddressBytes()));
        }
        else if (address.AddressFamily == AddressFamily.InterNetworkV6)
        {
            if (address.ScopeId != 0)
            {
                components.Add(CreateComponent(MultiaddrProtocol.Ip6ZoneCode, System.Text.Encoding.UTF8.GetBytes(address.ScopeId.ToString(CultureInfo.InvariantCulture))));
            }

            components.Add(CreateComponent(MultiaddrProtocol.Ip6Code, address.GetAddressBytes()));
        }
        else
        {
            throw new ArgumentException($"The address family {address.AddressFamily} is not IPv4 or IPv6.", nameof(endPoint));
        }

        Span<byte> port = stackalloc byte[2];
        BinaryPrimitives.WriteUInt16BigEndian(port, (ushort)endPoint.Port);
        components.Add(CreateComponent(MultiaddrProtocol.TcpCode, port));
        return FromComponents(components);
    }

    /// <summary>
    /// Builds <c>&lt;relayAddress&gt;/p2p/&lt;relay&gt;/p2p-circuit/p2p/&lt;target&gt;</c> (digest 1.9).
    /// </summary>
    /// <param name="relayAddress">How to reach the relay; may already end in <c>/p2p/&lt;relay&gt;</c>, which is not repeated.</param>
    /// <param name="relay">The relay's peer id.</param>
    /// <param name="target">The destination's peer id.</param>
    /// <returns>The circuit address.</returns>
    /// <exception cref="ArgumentException"><paramref name="relayAddress"/> ends in another peer id, or is itself relayed.</exception>
    public static Multiaddr CreateCircuit(Multiaddr relayAddress, PeerId relay, PeerId target)
    {
        ArgumentNullException.ThrowIfNull(relayAddress);
        ArgumentNullException.ThrowIfNull(relay);
        ArgumentNullException.ThrowIfNull(target);
        if (relayAddress.IsRelayed)
        {
            throw new ArgumentException("The relay address is itself relayed; circuits over several relays are not supported.", nameof(relayAddress));
        }

        Multiaddr withRelay = relayAddress.WithPeerId(relay);
        var components = new List<MultiaddrComponent>(withRelay._components)
        {
            CreateComponent(MultiaddrProtocol.P2pCircuitCode, []),
            CreatePeerComponent(target),
        };
        return FromComponents(components);
    }

    /// <summary>Returns a copy of the binary form.</summary>
    /// <returns>The bytes.</returns>
    public byte[] ToByteArray() => (byte[])_bytes.Clone();

    /// <summary>Returns the canonical text form (peer ids in base58btc, IPv6 per RFC 5952, certhash as base64url multibase).</summary>
    /// <returns>The text; empty for <see cref="Empty"/>.</returns>
    public override string ToString()
    {
        if (_text is null)
        {
            var builder = new StringBuilder();
            foreach (MultiaddrComponent component in _components)
            {
                builder.Append('/').Append(component.Name);
                if (component.Value is not null)
                {
                    builder.Append('/').Append(component.Value);
                }
            }

            _text = builder.ToString();
        }

        return _text;
    }

    /// <summary>Whether any component uses the protocol.</summary>
    /// <param name="protocolName">A protocol name such as <c>p2p-circuit</c>; <c>ipfs</c> means <c>p2p</c>. Unknown names are never present.</param>
    /// <returns>Whether the protocol occurs.</returns>
    public bool Has(string protocolName)
    {
        ArgumentNullException.ThrowIfNull(protocolName);
        return MultiaddrProtocol.TryGet(protocolName, out MultiaddrProtocol? protocol) && IndexOf(protocol.Code) >= 0;
    }

    /// <summary>Appends <paramref name="inner"/> to this address.</summary>
    /// <param name="inner">The address to append.</param>
    /// <returns>The combined address.</returns>
    public Multiaddr Encapsulate(Multiaddr inner)
    {
        ArgumentNullException.ThrowIfNull(inner);
        if (inner.IsEmpty)
        {
            return this;
        }

        if (IsEmpty)
        {
            return inner;
        }

        return new Multiaddr([.. _bytes, .. inner._bytes], [.. _components, .. inner._components]);
    }

    /// <summary>Parses <paramref name="inner"/> and appends it to this address.</summary>
    /// <param name="inner">The text of the address to append.</param>
    /// <returns>The combined address.</returns>
    /// <exception cref="FormatException"><paramref name="inner"/> is not a valid multiaddr.</exception>
    public Multiaddr Encapsulate(string inner) => Encapsulate(Parse(inner));

    /// <summary>
    /// Cuts the address at the last occurrence of <paramref name="protocolName"/>, dropping that component
    /// and everything after it.
    /// </summary>
    /// <param name="protocolName">A protocol name such as <c>p2p-circuit</c>.</param>
    /// <returns>The shortened address, or this address when the protocol does not occur.</returns>
    /// <exception cref="ArgumentException"><paramref name="protocolName"/> is not a supported protocol name.</exception>
    public Multiaddr Decapsulate(string protocolName)
    {
        ArgumentNullException.ThrowIfNull(protocolName);
        if (!MultiaddrProtocol.TryGet(protocolName, out MultiaddrProtocol? protocol))
        {
            throw new ArgumentException($"'{protocolName}' is not a supported multiaddr protocol name.", nameof(protocolName));
        }

        int index = LastIndexOf(protocol.Code);
        return index < 0 ? this : Take(index);
    }

    /// <summary>
    /// Cuts the address at the last occurrence of <paramref name="suffix"/>'s component sequence, dropping it
    /// and everything after it.
    /// </summary>
    /// <param name="suffix">The components to look for.</param>
    /// <returns>The shortened address, or this address when the sequence does not occur (or is empty).</returns>
    public Multiaddr Decapsulate(Multiaddr suffix)
    {
        ArgumentNullException.ThrowIfNull(suffix);
        int n = suffix._components.Length;
        if (n == 0)
        {
            return this;
        }

        for (int start = _components.Length - n; start >= 0; start--)
        {
            bool match = true;
            for (int j = 0; j < n && match; j++)
            {
                match = _components[start + j].SameAs(suffix._components[j]);
            }

            if (match)
            {
                return Take(start);
            }
        }

        return this;
    }

    /// <summary>Returns the peer id of the last <c>/p2p</c> component.</summary>
    /// <returns>The peer id, or <see langword="null"/> when there is no <c>/p2p</c> component.</returns>
    public PeerId? GetPeerId()
    {
        int index = LastIndexOf(MultiaddrProtocol.P2pCode);
        return index < 0 ? null : _components[index].PeerId;
    }

    /// <summary>Appends <c>/p2p/&lt;peerId&gt;</c> unless the address already ends with it.</summary>
    /// <param name="peerId">The peer id.</param>
    /// <returns>The address ending in <c>/p2p/&lt;peerId&gt;</c>.</returns>
    /// <exception cref="ArgumentException">The address already ends with a different peer id.</exception>
    public Multiaddr WithPeerId(PeerId peerId)
    {
        ArgumentNullException.ThrowIfNull(peerId);
        if (_components.Length > 0 && _components[^1].PeerId is { } last)
        {
            return last == peerId
                ? this
                : throw new ArgumentException($"The address {this} already ends with another peer id.", nameof(peerId));
        }

        MultiaddrComponent component = CreatePeerComponent(peerId);
        return new Multiaddr([.. _bytes, .. component.Encoded.Span], [.. _components, component]);
    }

    /// <summary>Removes a trailing <c>/p2p/&lt;id&gt;</c> component, if any.</summary>
    /// <returns>The address without its trailing peer id.</returns>
    public Multiaddr WithoutPeerId() =>
        _components.Length > 0 && _components[^1].Code == MultiaddrProtocol.P2pCode ? Take(_components.Length - 1) : this;

    /// <summary>
    /// Returns the address of the first <c>ip4</c> or <c>ip6</c> component. An <c>ip6zone</c> directly before
    /// the <c>ip6</c> component becomes the scope id when the system can resolve it.
    /// </summary>
    /// <param name="address">The IP address.</param>
    /// <returns>Whether the address has an IP component.</returns>
    public bool TryGetIPAddress([NotNullWhen(true)] out IPAddress? address)
    {
        int index = IndexOfIP();
        address = index < 0 ? null : ToIPAddress(index);
        return address is not null;
    }

    /// <summary>
    /// Returns the TCP endpoint when the first <c>ip4</c>/<c>ip6</c> component is directly followed by <c>tcp</c>.
    /// Later components (e.g. <c>/ws</c>, <c>/p2p</c>) are ignored; callers check them as needed.
    /// </summary>
    /// <param name="endPoint">The endpoint.</param>
    /// <returns>Whether the address has such an endpoint.</returns>
    public bool TryGetIPEndPoint([NotNullWhen(true)] out IPEndPoint? endPoint)
    {
        endPoint = null;
        int index = IndexOfIP();
        if (index < 0 || index + 1 >= _components.Length || _components[index + 1].Code != MultiaddrProtocol.TcpCode)
        {
            return false;
        }

        int port = BinaryPrimitives.ReadUInt16BigEndian(_components[index + 1].RawValue.Span);
        endPoint = new IPEndPoint(ToIPAddress(index), port);
        return true;
    }

    /// <summary>
    /// Splits a circuit address at its first <c>/p2p-circuit</c> (digest 1.9): the left part must be non-empty and
    /// end with <c>/p2p/&lt;relay&gt;</c>; the right part must be empty or exactly <c>/p2p/&lt;target&gt;</c>.
    /// </summary>
    /// <param name="relayAddress">The whole left part, including <c>/p2p/&lt;relay&gt;</c>.</param>
    /// <param name="relay">The relay's peer id.</param>
    /// <param name="target">The destination's peer id, or <see langword="null"/> when the address ends at <c>/p2p-circuit</c>.</param>
    /// <returns>Whether the address is a well-formed single-hop circuit address.</returns>
    public bool TrySplitCircuit([NotNullWhen(true)] out Multiaddr? relayAddress, [NotNullWhen(true)] out PeerId? relay, out PeerId? target)
    {
        relayAddress = null;
        relay = null;
        target = null;
        int circuit = IndexOf(MultiaddrProtocol.P2pCircuitCode);
        if (circuit < 1 || _components[circuit - 1].PeerId is not { } relayId)
        {
            return false;
        }

        int rest = _components.Length - circuit - 1;
        PeerId? targetId = null;
        if (rest == 1)
        {
            targetId = _components[^1].PeerId;
            if (targetId is null)
            {
                return false;
            }
        }
        else if (rest != 0)
        {
            return false;
        }

        relayAddress = Take(circuit);
        relay = relayId;
        target = targetId;
        return true;
    }

    /// <inheritdoc />
    public bool Equals([NotNullWhen(true)] Multiaddr? other) =>
        other is not null && (ReferenceEquals(this, other) || _bytes.AsSpan().SequenceEqual(other._bytes));

    /// <inheritdoc />
    public override bool Equals([NotNullWhen(true)] object? obj) => Equals(obj as Multiaddr);

    /// <inheritdoc />
    public override int GetHashCode()
    {
        var hash = new HashCode();
        hash.AddBytes(_bytes);
        return hash.ToHashCode();
    }

    /// <summary>Compares two addresses by their binary form.</summary>
    /// <param name="left">The first address.</param>
    /// <param name="right">The second address.</param>
    /// <returns>Whether both are null or both have the same bytes.</returns>
    public static bool operator ==(Multiaddr? left, Multiaddr? right) => left is null ? right is null : left.Equals(right);

    /// <summary>Compares two addresses by their binary form.</summary>
    /// <param name="left">The first address.</param>
    /// <param name="right">The second address.</param>
    /// <returns>Whether they differ.</returns>
    public static bool operator !=(Multiaddr? left, Multiaddr? right) => !(left == right);

    /// <summary>Builds an address from components.</summary>
    internal static Multiaddr FromComponents(IReadOnlyCollection<MultiaddrComponent> components)
    {
        if (components.Count == 0)
        {
            return Empty;
        }

        int length = 0;
        foreach (MultiaddrComponent component in components)
        {
            length += component.Encoded.Length;
        }

        var bytes = new byte[length];
        int offset = 0;
        foreach (MultiaddrComponent component in components)
        {
            component.Encoded.Span.CopyTo(bytes.AsSpan(offset));
            offset += component.Encoded.Length;
        }

        return new Multiaddr(bytes, [.. components]);
    }

    private static MultiaddrComponent CreateComponent(int code, ReadOnlySpan<byte> value)
    {
        MultiaddrProtocol protocol = MultiaddrProtocol.Get(code);
        protocol.TryFormatValue(value, out string? text, out PeerId? peerId, out _);
        return MultiaddrComponent.Create(protocol, value, text, peerId);
    }

    private static MultiaddrComponent CreatePeerComponent(PeerId peerId) =>
        MultiaddrComponent.Create(MultiaddrProtocol.Get(MultiaddrProtocol.P2pCode), peerId.AsSpan(), peerId.ToString(), peerId);

    private static bool TryParseCore(string text, [NotNullWhen(true)] out Multiaddr? addr, [NotNullWhen(false)] out string? error)
    {
        addr = null;
        if (text.Length == 0)
        {
            addr = Empty;
            error = null;
            return true;
        }

        if (text[0] != '/')
        {
            error = "it must start with '/'.";
            return false;
        }

        string[] parts = text.Split('/');
        int end = parts.Length;
        if (end > 2 && parts[^1].Length == 0)
        {
            end--; // one trailing '/'
        }

        if (end < 2 || parts[1].Length == 0)
        {
            error = "it has no protocol.";
            return false;
        }

        var components = new List<MultiaddrComponent>();
        for (int i = 1; i < end; i++)
        {
            string name = parts[i];
            if (name.Length == 0)
            {
                error = "it contains an empty protocol name ('//').";
                return false;
            }

            if (!MultiaddrProtocol.TryGet(name, out MultiaddrProtocol? protocol))
            {
                error = $"the protocol '{name}' is unknown.";
                return false;
            }

            if (!protocol.HasValue)
            {
                components.Add(MultiaddrComponent.Create(protocol, [], null, null));
                continue;
            }

            if (i + 1 >= end)
            {
                error = $"the protocol '{name}' is missing its value.";
                return false;
            }

            string valueText = parts[++i];
            if (!protocol.TryParseValue(valueText, out byte[]? value, out PeerId? peerId, out error)
                || !protocol.TryFormatValue(value, out string? canonical, out peerId, out error))
            {
                return false;
            }

            components.Add(MultiaddrComponent.Create(protocol, value, canonical, peerId));
        }

        addr = FromComponents(components);
        error = null;
        return true;
    }

    private static bool TryDecode(ReadOnlySpan<byte> bytes, [NotNullWhen(true)] out Multiaddr? addr, [NotNullWhen(false)] out string? error)
    {
        addr = null;
        var components = new List<MultiaddrComponent>();
        int offset = 0;
        while (offset < bytes.Length)
        {
            VarintStatus status = Varint.Decode(bytes[offset..], out ulong code, out int read);
            if (status != VarintStatus.Ok)
            {
                error = $"the protocol code at offset {offset} is not a valid varint ({Varint.CreateException(status).Message})";
                return false;
            }

            if (!MultiaddrProtocol.TryGet(code, out MultiaddrProtocol? protocol))
            {
                error = $"the protocol code 0x{code:x} at offset {offset} is unknown.";
                return false;
            }

            offset += read;
            int length = protocol.Size;
            if (length == MultiaddrProtocol.VariableSize)
            {
                status = Varint.Decode(bytes[offset..], out ulong declared, out read);
                if (status != VarintStatus.Ok)
                {
                    error = $"the {protocol.Name} value length at offset {offset} is not a valid varint ({Varint.CreateException(status).Message})";
                    return false;
                }

                offset += read;
                if (declared > (ulong)(bytes.Length - offset))
                {
                    error = $"the {protocol.Name} value declares {declared} bytes but only {bytes.Length - offset} remain.";
                    return false;
                }

                length = (int)declared;
            }
            else if (length > bytes.Length - offset)
            {
                error = $"the {protocol.Name} value needs {length} bytes but only {bytes.Length - offset} remain.";
                return false;
            }

            ReadOnlySpan<byte> value = bytes.Slice(offset, length);
            if (!protocol.TryFormatValue(value, out string? text, out PeerId? peerId, out error))
            {
                return false;
            }

            components.Add(MultiaddrComponent.Create(protocol, value, text, peerId));
            offset += length;
        }

        addr = FromComponents(components);
        error = null;
        return true;
    }

    private static string Truncate(string text) => text.Length <= 200 ? text : string.Concat(text.AsSpan(0, 200), "…");

    private int IndexOf(int code)
    {
        for (int i = 0; i < _components.Length; i++)
        {
            if (_components[i].Code == code)
            {
                return i;
            }
        }

        return -1;
    }

    private int LastIndexOf(int code)
    {
        for (int i = _components.Length - 1; i >= 0; i--)
        {
            if (_components[i].Code == code)
            {
                return i;
            }
        }

        return -1;
    }

    private int IndexOfIP()
    {
        for (int i = 0; i < _components.Length; i++)
        {
            if (_components[i].Code is MultiaddrProtocol.Ip4Code or MultiaddrProtocol.Ip6Code)
            {
                return i;
            }
        }

        return -1;
    }

    private IPAddress ToIPAddress(int index)
    {
        MultiaddrComponent component = _components[index];
        var address = new IPAddress(component.RawValue.Span);
        if (component.Code == MultiaddrProtocol.Ip6Code
            && index > 0
            && _components[index - 1].Code == MultiaddrProtocol.Ip6ZoneCode
            && IPAddress.TryParse(component.Value + "%" + _components[index - 1].Value, out IPAddress? scoped))
        {
            return scoped;
        }

        return address;
    }

    private Multiaddr Take(int count) => count == 0 ? Empty : FromComponents(_components[..count]);
}
