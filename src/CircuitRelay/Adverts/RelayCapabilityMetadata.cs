using System.Buffers.Binary;

namespace CircuitRelay.Adverts;

/// <summary>
/// The compact form of a relay advert that a network's own address gossip can carry next to an address (a services
/// bitfield, the relay port, capacity, ttl and role), for nodes whose network already gossips addresses. It is not
/// signed: a node that learns a relay this way counts it as one unverified source.
/// </summary>
/// <param name="Services">The services bitfield.</param>
/// <param name="RelayPort">The port of the relay service (0 = that of the address it travels with).</param>
/// <param name="Capacity">Reservations the relay accepts in all.</param>
/// <param name="Ttl">How long the information is valid after it was received; whole milliseconds.</param>
/// <param name="Role">The relay's role.</param>
public readonly record struct RelayCapabilityMetadata(RelayServices Services, ushort RelayPort, uint Capacity, TimeSpan Ttl, NodeRole Role)
{
    /// <summary>The encoded size in bytes: version (1), services (2), port (2), capacity (4), ttl ms (4), role (1), big-endian.</summary>
    public const int EncodedLength = 14;

    private const byte Version = 1;

    /// <summary>Writes the 14-byte encoding to <paramref name="destination"/>.</summary>
    /// <exception cref="ArgumentException"><paramref name="destination"/> is shorter than <see cref="EncodedLength"/>,
    /// or a field does not fit its width (services above 16 bits, a ttl outside 0 to 2^32-1 ms).</exception>
    public void WriteTo(Span<byte> destination)
    {
        if (destination.Length < EncodedLength)
        {
            throw new ArgumentException($"The capability metadata needs {EncodedLength} bytes.", nameof(destination));
        }

        if ((int)Services is < 0 or > ushort.MaxValue)
        {
            throw new ArgumentException("The services bitfield has 16 bits.", nameof(destination));
        }

        double ttlMs = Math.Floor(Ttl.TotalMilliseconds);
        if (ttlMs is < 0 or > uint.MaxValue)
        {
            throw new ArgumentException("The ttl must be between 0 and 2^32-1 milliseconds.", nameof(destination));
        }

        destination[0] = Version;
        BinaryPrimitives.WriteUInt16BigEndian(destination[1..], (ushort)Services);
        BinaryPrimitives.WriteUInt16BigEndian(destination[3..], RelayPort);
        BinaryPrimitives.WriteUInt32BigEndian(destination[5..], Capacity);
        BinaryPrimitives.WriteUInt32BigEndian(destination[9..], (uint)ttlMs);
        destination[13] = (byte)Role;
    }

    /// <summary>The 14-byte encoding.</summary>
    public byte[] ToByteArray()
    {
        byte[] bytes = new byte[EncodedLength];
        WriteTo(bytes);
        return bytes;
    }

    /// <summary>Reads the encoding written by <see cref="WriteTo"/>.</summary>
    /// <returns><see langword="false"/> when the length, version or role is not one this version knows.</returns>
    public static bool TryRead(ReadOnlySpan<byte> source, out RelayCapabilityMetadata metadata)
    {
        metadata = default;
        if (source.Length != EncodedLength || source[0] != Version || source[13] > (byte)NodeRole.Private)
        {
            return false;
        }

        metadata = new RelayCapabilityMetadata(
            (RelayServices)BinaryPrimitives.ReadUInt16BigEndian(source[1..]),
            BinaryPrimitives.ReadUInt16BigEndian(source[3..]),
            BinaryPrimitives.ReadUInt32BigEndian(source[5..]),
            TimeSpan.FromMilliseconds(BinaryPrimitives.ReadUInt32BigEndian(source[9..])),
            (NodeRole)source[13]);
        return true;
    }
}
