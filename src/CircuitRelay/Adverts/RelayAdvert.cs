using CircuitRelay.Abstractions;
using CircuitRelay.Crypto;
using Google.Protobuf;

namespace CircuitRelay.Adverts;

/// <summary>
/// A relay's capability advert: its peer id, the addresses it is reached at, the services it offers, its relay port,
/// capacity, role, when it was issued and for how long it is valid. The relay seals it in a libp2p signed envelope
/// (domain <see cref="Domain"/>, payload type <see cref="PayloadType"/>), so anyone may forward it and nobody can forge
/// or alter it; <see cref="Open"/> checks the signature, the signer, the size cap and every field.
/// </summary>
public sealed class RelayAdvert
{
    /// <summary>The signed-envelope domain of relay adverts.</summary>
    public const string Domain = "circuitrelay-relay-advert";

    /// <summary>The largest sealed advert accepted or produced, in bytes: a gossip message carries several within 4 KiB.</summary>
    public const int MaxEnvelopeSize = 1024;

    /// <summary>The most addresses an advert carries.</summary>
    public const int MaxAddresses = 8;

    private readonly DateTimeOffset _issuedAt;

    /// <summary>Creates an advert.</summary>
    /// <param name="relay">The relay's peer id (the one who seals it).</param>
    /// <param name="addresses">The addresses the relay is reached at, without <c>/p2p/&lt;id&gt;</c>; at most <see cref="MaxAddresses"/>.</param>
    /// <param name="issuedAt">When the relay issued it; kept to whole milliseconds.</param>
    /// <param name="ttl">How long it is valid after <paramref name="issuedAt"/>: more than zero, at most <see cref="MaxTtl"/>.</param>
    /// <exception cref="ArgumentException">Too many addresses, a relayed address, or a ttl out of range.</exception>
    public RelayAdvert(PeerId relay, IReadOnlyList<Multiaddr> addresses, DateTimeOffset issuedAt, TimeSpan ttl)
    {
        ArgumentNullException.ThrowIfNull(relay);
        ArgumentNullException.ThrowIfNull(addresses);
        if (addresses.Count > MaxAddresses)
        {
            throw new ArgumentException($"An advert carries at most {MaxAddresses} addresses, not {addresses.Count}.", nameof(addresses));
        }

        if (addresses.Any(a => a.IsRelayed))
        {
            throw new ArgumentException("A relay is advertised at its own direct addresses, not at circuit addresses.", nameof(addresses));
        }

        if (ttl <= TimeSpan.Zero || ttl > MaxTtl)
        {
            throw new ArgumentException($"The ttl must be more than zero and at most {MaxTtl}.", nameof(ttl));
        }

        Relay = relay;
        Addresses = [.. addresses.Select(a => a.WithoutPeerId())];
        _issuedAt = DateTimeOffset.FromUnixTimeMilliseconds(issuedAt.ToUnixTimeMilliseconds());
        Ttl = TimeSpan.FromMilliseconds(Math.Floor(ttl.TotalMilliseconds));
    }

    /// <summary>The longest ttl an advert may carry (24 hours): a stolen or stale advert cannot live longer.</summary>
    public static TimeSpan MaxTtl { get; } = TimeSpan.FromHours(24);

    /// <summary>How far in the future an advert's issue time may lie and still be valid (clock skew between nodes).</summary>
    public static TimeSpan MaxClockSkew { get; } = TimeSpan.FromMinutes(5);

    /// <summary>The envelope payload type: 0x300001 (multicodec private-use range) as an unsigned varint.</summary>
    public static ReadOnlySpan<byte> PayloadType => [0x81, 0x80, 0xc0, 0x01];

    /// <summary>The relay's peer id.</summary>
    public PeerId Relay { get; }

    /// <summary>The relay's direct addresses, without <c>/p2p/&lt;id&gt;</c>.</summary>
    public IReadOnlyList<Multiaddr> Addresses { get; }

    /// <summary>When the relay issued the advert (whole milliseconds, UTC).</summary>
    public DateTimeOffset IssuedAt => _issuedAt;

    /// <summary>How long the advert is valid after <see cref="IssuedAt"/>.</summary>
    public TimeSpan Ttl { get; }

    /// <summary>When the advert stops being valid.</summary>
    public DateTimeOffset Expires => _issuedAt + Ttl;

    /// <summary>The services offered; <see cref="RelayServices.Relay"/> by default.</summary>
    public RelayServices Services { get; init; } = RelayServices.Relay;

    /// <summary>The port of the relay service; 0 when it is that of the addresses.</summary>
    public ushort RelayPort { get; init; }

    /// <summary>How many reservations the relay accepts in all (its <c>MaxReservations</c>); 0 when it does not say.</summary>
    public uint Capacity { get; init; }

    /// <summary>How many reservations the relay held when it issued the advert (its load); 0 when it does not say.</summary>
    public uint Reservations { get; init; }

    /// <summary>Whether the relay said it is full: it gives a <see cref="Capacity"/> and holds that many reservations.</summary>
    public bool IsFull => Capacity > 0 && Reservations >= Capacity;

    /// <summary>The relay's role when it issued the advert; <see cref="NodeRole.Public"/> by default.</summary>
    public NodeRole Role { get; init; } = NodeRole.Public;

    /// <summary>Whether the advert is valid at <paramref name="now"/>: not expired, and not issued further ahead than <see cref="MaxClockSkew"/>.</summary>
    public bool IsValidAt(DateTimeOffset now) => now < Expires && _issuedAt - MaxClockSkew <= now;

    /// <summary>Encodes the advert and seals it with the relay's identity.</summary>
    /// <param name="relayIdentity">The relay's identity; its peer id must be <see cref="Relay"/>.</param>
    /// <returns>The serialized signed envelope, at most <see cref="MaxEnvelopeSize"/> bytes.</returns>
    /// <exception cref="ArgumentException">The identity is not the relay's, or the sealed advert exceeds <see cref="MaxEnvelopeSize"/>.</exception>
    public byte[] Seal(ILocalIdentity relayIdentity)
    {
        ArgumentNullException.ThrowIfNull(relayIdentity);
        if (!relayIdentity.PeerId.Equals(Relay) || !relayIdentity.PublicKey.ToPeerId().Equals(Relay))
        {
            throw new ArgumentException("The signing identity is not the relay named in the advert.", nameof(relayIdentity));
        }

        var message = new Pb.RelayAdvert
        {
            Relay = ByteString.CopyFrom(Relay.ToByteArray()),
            Services = (uint)Services,
            RelayPort = RelayPort,
            Capacity = Capacity,
            Reservations = Reservations,
            TtlMs = (ulong)Ttl.TotalMilliseconds,
            Role = (uint)Role,
            IssuedAtMs = (ulong)Math.Max(0, _issuedAt.ToUnixTimeMilliseconds()),
        };
        foreach (Multiaddr address in Addresses)
        {
            message.Addrs.Add(ByteString.CopyFrom(address.ToByteArray()));
        }

        byte[] envelope = SignedEnvelope.Seal(relayIdentity, Domain, PayloadType, message.ToByteArray()).ToByteArray();
        return envelope.Length <= MaxEnvelopeSize
            ? envelope
            : throw new ArgumentException($"The sealed advert is {envelope.Length} bytes, over the {MaxEnvelopeSize}-byte cap (fewer or shorter addresses).", nameof(relayIdentity));
    }

    /// <summary>
    /// Opens a sealed advert: checks the size cap before anything else, the signature (domain and payload type), that
    /// the signer is the relay it names, and every field. Does not check validity in time: use
    /// <see cref="IsValidAt"/> with the injected clock.
    /// </summary>
    /// <param name="envelope">The serialized signed envelope, as received.</param>
    /// <param name="verifier">The signature verifier.</param>
    /// <returns>The advert with its envelope, to forward unchanged.</returns>
    /// <exception cref="InvalidDataException">Oversized, forged, altered, signed by another peer, or a field is missing or out of range.</exception>
    public static SignedRelayAdvert Open(ReadOnlySpan<byte> envelope, ISignatureVerifier verifier)
    {
        ArgumentNullException.ThrowIfNull(verifier);
        if (envelope.Length > MaxEnvelopeSize)
        {
            throw new InvalidDataException($"The advert is {envelope.Length} bytes, over the {MaxEnvelopeSize}-byte cap.");
        }

        SignedEnvelope opened = SignedEnvelope.Open(envelope, Domain, PayloadType, verifier);
        Pb.RelayAdvert message;
        try
        {
            message = Pb.RelayAdvert.Parser.ParseFrom(opened.Payload.Span);
        }
        catch (InvalidProtocolBufferException ex)
        {
            throw new InvalidDataException("The advert payload is not a valid protobuf.", ex);
        }

        if (!message.HasRelay || !message.HasTtlMs || !message.HasIssuedAtMs)
        {
            throw new InvalidDataException("The advert lacks the relay, ttl or issue time.");
        }

        if (!PeerId.TryFromBytes(message.Relay.Span, out PeerId? relay))
        {
            throw new InvalidDataException("The advert's relay is not a valid peer id.");
        }

        if (!opened.PublicKey.ToPeerId().Equals(relay))
        {
            throw new InvalidDataException("The advert is not signed by the relay it names.");
        }

        if (message.Addrs.Count > MaxAddresses)
        {
            throw new InvalidDataException($"The advert carries {message.Addrs.Count} addresses, more than {MaxAddresses}.");
        }

        var addresses = new List<Multiaddr>(message.Addrs.Count);
        foreach (ByteString bytes in message.Addrs)
        {
            if (!Multiaddr.TryFromBytes(bytes.Span, out Multiaddr? address) || address.IsRelayed)
            {
                throw new InvalidDataException("The advert carries an address that is not a valid direct multiaddr.");
            }

            addresses.Add(address);
        }

        if (message.TtlMs == 0 || message.TtlMs > (ulong)MaxTtl.TotalMilliseconds)
        {
            throw new InvalidDataException($"The advert's ttl of {message.TtlMs} ms is outside 1 ms to {MaxTtl}.");
        }

        if (message.IssuedAtMs > (ulong)DateTimeOffset.MaxValue.ToUnixTimeMilliseconds() - (ulong)MaxTtl.TotalMilliseconds)
        {
            throw new InvalidDataException("The advert's issue time is out of range.");
        }

        if (message.Role > (uint)NodeRole.Private || message.Services > ushort.MaxValue || message.RelayPort > ushort.MaxValue)
        {
            throw new InvalidDataException("The advert's role, services or relay port is out of range.");
        }

        var advert = new RelayAdvert(relay, addresses, DateTimeOffset.FromUnixTimeMilliseconds((long)message.IssuedAtMs), TimeSpan.FromMilliseconds(message.TtlMs))
        {
            Services = (RelayServices)message.Services,
            RelayPort = (ushort)message.RelayPort,
            Capacity = message.Capacity,
            Reservations = message.Reservations,
            Role = (NodeRole)message.Role,
        };
        return new SignedRelayAdvert(advert, envelope.ToArray());
    }

    /// <summary>The compact metadata form (for a network's own address gossip); the addresses and issue time travel apart.</summary>
    public RelayCapabilityMetadata ToMetadata() => new(Services, RelayPort, Capacity, Ttl, Role);

    /// <summary>
    /// An (unsigned) advert from compact metadata that arrived with <paramref name="addresses"/> at <paramref name="receivedAt"/>.
    /// </summary>
    /// <exception cref="ArgumentException">The metadata's ttl is zero or above <see cref="MaxTtl"/>, or the addresses are invalid for an advert.</exception>
    public static RelayAdvert FromMetadata(PeerId relay, IReadOnlyList<Multiaddr> addresses, RelayCapabilityMetadata metadata, DateTimeOffset receivedAt)
        => new(relay, addresses, receivedAt, metadata.Ttl)
        {
            Services = metadata.Services,
            RelayPort = metadata.RelayPort,
            Capacity = metadata.Capacity,
            Role = metadata.Role,
        };

    /// <inheritdoc />
    public override string ToString() => $"relay {Relay} ({Services}, {Role}, capacity {Capacity}, holding {Reservations}) at [{string.Join(", ", Addresses)}] until {Expires:O}";
}
