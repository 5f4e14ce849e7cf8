using CircuitRelay.Abstractions;
using Google.Protobuf;

namespace CircuitRelay.Crypto;

/// <summary>
/// A reservation voucher (circuit-v2, digest 1.8): the relay's signed statement that
/// <paramref name="Peer"/> holds a reservation on <paramref name="Relay"/> until
/// <paramref name="Expiration"/>. Carried in a <see cref="SignedEnvelope"/> with domain
/// <see cref="Domain"/> and payload type <see cref="PayloadType"/>.
/// </summary>
/// <param name="Relay">The relay's peer id (the signer).</param>
/// <param name="Peer">The reserving peer's peer id.</param>
/// <param name="Expiration">The expiry time; normalized to whole seconds in UTC.</param>
public sealed record ReservationVoucher(PeerId Relay, PeerId Peer, DateTimeOffset Expiration)
{
    /// <summary>The signed-envelope domain for vouchers.</summary>
    public const string Domain = "libp2p-relay-rsvp";

    private readonly DateTimeOffset _expiration = ToWholeSeconds(Expiration);

    /// <summary>The envelope payload type: the raw bytes <c>03 02</c> of multicodec 0x0302, as go-libp2p sends them.</summary>
    public static ReadOnlySpan<byte> PayloadType => [0x03, 0x02];

    /// <summary>The expiry time, truncated to whole seconds and expressed in UTC (the wire carries Unix seconds).</summary>
    public DateTimeOffset Expiration
    {
        get => _expiration;
        init => _expiration = ToWholeSeconds(value);
    }

    /// <summary>Encodes the voucher and seals it with the relay's identity.</summary>
    /// <param name="relayIdentity">The relay identity; its peer id and key must match <see cref="Relay"/>.</param>
    /// <returns>The serialized signed envelope.</returns>
    /// <exception cref="ArgumentException">
    /// <paramref name="relayIdentity"/> is not <see cref="Relay"/>, or <see cref="Expiration"/> is before the Unix epoch.
    /// </exception>
    public byte[] Seal(ILocalIdentity relayIdentity)
    {
        ArgumentNullException.ThrowIfNull(relayIdentity);
        ArgumentNullException.ThrowIfNull(Relay);
        ArgumentNullException.ThrowIfNull(Peer);
        if (!relayIdentity.PeerId.Equals(Relay) || !relayIdentity.PublicKey.ToPeerId().Equals(Relay))
        {
            throw new ArgumentException("The signing identity is not the relay named in the voucher.", nameof(relayIdentity));
        }

        long seconds = Expiration.ToUnixTimeSeconds();
        if (seconds < 0)
        {
            throw new ArgumentException("The voucher expiration is before the Unix epoch.", nameof(relayIdentity));
        }

        byte[] payload = new Protocol.Pb.ReservationVoucher
        {
            Relay = ByteString.CopyFrom(Relay.ToByteArray()),
            Peer = ByteString.CopyFrom(Peer.ToByteArray()),
            Expiration = (ulong)seconds,
        }.ToByteArray();

        return SignedEnvelope.Seal(relayIdentity, Domain, PayloadType, payload).ToByteArray();
    }

    /// <summary>
    /// Opens a voucher envelope: verifies the signature (domain <see cref="Domain"/>, payload type
    /// <see cref="PayloadType"/>), decodes the payload and checks that the signer is the relay it names.
    /// Does not check the expiration against the clock; callers compare <see cref="Expiration"/> with
    /// their <see cref="TimeProvider"/>.
    /// </summary>
    /// <param name="envelope">The serialized signed envelope.</param>
    /// <param name="verifier">The signature verifier.</param>
    /// <returns>The voucher.</returns>
    /// <exception cref="InvalidDataException">
    /// The envelope does not verify, the payload is malformed or incomplete, or the signer's peer id is
    /// not the voucher's relay.
    /// </exception>
    public static ReservationVoucher Open(ReadOnlySpan<byte> envelope, ISignatureVerifier verifier)
    {
        SignedEnvelope opened = SignedEnvelope.Open(envelope, Domain, PayloadType, verifier);

        Protocol.Pb.ReservationVoucher message;
        try
        {
            message = Protocol.Pb.ReservationVoucher.Parser.ParseFrom(opened.Payload.Span);
        }
        catch (InvalidProtocolBufferException ex)
        {
            throw new InvalidDataException("The voucher payload is not a valid protobuf.", ex);
        }

        if (!message.HasRelay || !message.HasPeer || !message.HasExpiration)
        {
            throw new InvalidDataException("The voucher payload lacks the relay, peer or expiration field.");
        }

        PeerId relay = ReadPeerId(message.Relay, "relay");
        PeerId peer = ReadPeerId(message.Peer, "peer");
        if (message.Expiration > (ulong)DateTimeOffset.MaxValue.ToUnixTimeSeconds())
        {
            throw new InvalidDataException("The voucher expiration is out of range.");
        }

        if (!opened.PublicKey.ToPeerId().Equals(relay))
        {
            throw new InvalidDataException("The voucher is not signed by the relay it names.");
        }

        return new ReservationVoucher(relay, peer, DateTimeOffset.FromUnixTimeSeconds((long)message.Expiration));
    }

    private static PeerId ReadPeerId(ByteString bytes, string field)
    {
        try
        {
            return PeerId.FromBytes(bytes.Span);
        }
        catch (FormatException ex)
        {
            throw new InvalidDataException($"The voucher {field} is not a valid peer id: {ex.Message}", ex);
        }
    }

    private static DateTimeOffset ToWholeSeconds(DateTimeOffset value)
    {
        long ticks = value.UtcTicks;
        return new DateTimeOffset(ticks - (ticks % TimeSpan.TicksPerSecond), TimeSpan.Zero);
    }
}
