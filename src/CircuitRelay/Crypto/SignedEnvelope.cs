using CircuitRelay.Multiformats;
using CircuitRelay.Abstractions;
using Google.Protobuf;

namespace CircuitRelay.Crypto;

/// <summary>
/// A signed envelope (libp2p RFC 0002, digest 1.8): a payload and its type, signed together with a domain
/// string that is never transmitted.
/// </summary>
/// <remarks>
/// An envelope can only be obtained by sealing it (<see cref="Seal"/>) or by opening and verifying
/// received bytes (<see cref="Open"/>); an unverified envelope is never handed out.
/// </remarks>
public sealed class SignedEnvelope
{
    private readonly byte[] _payloadType;
    private readonly byte[] _payload;
    private readonly byte[] _signature;

    private SignedEnvelope(PublicKey publicKey, byte[] payloadType, byte[] payload, byte[] signature)
    {
        PublicKey = publicKey;
        _payloadType = payloadType;
        _payload = payload;
        _signature = signature;
    }

    /// <summary>The signer's public key. The signer's peer id is <c>PublicKey.ToPeerId()</c>.</summary>
    public PublicKey PublicKey { get; }

    /// <summary>The payload type: a multicodec code, possibly followed by more bytes (go uses raw <c>03 02</c> for vouchers).</summary>
    public ReadOnlyMemory<byte> PayloadType => _payloadType;

    /// <summary>The payload.</summary>
    public ReadOnlyMemory<byte> Payload => _payload;

    /// <summary>The signature over the domain, payload type and payload.</summary>
    public ReadOnlyMemory<byte> Signature => _signature;

    /// <summary>Signs a payload and wraps it in an envelope.</summary>
    /// <param name="signer">The signing identity; its public key goes into the envelope.</param>
    /// <param name="domain">The domain separation string; not empty.</param>
    /// <param name="payloadType">The payload type; not empty.</param>
    /// <param name="payload">The payload.</param>
    /// <returns>The sealed envelope.</returns>
    /// <exception cref="ArgumentException"><paramref name="domain"/> or <paramref name="payloadType"/> is empty.</exception>
    public static SignedEnvelope Seal(ILocalIdentity signer, string domain, ReadOnlySpan<byte> payloadType, ReadOnlySpan<byte> payload)
    {
        ArgumentNullException.ThrowIfNull(signer);
        ArgumentException.ThrowIfNullOrEmpty(domain);
        if (payloadType.IsEmpty)
        {
            throw new ArgumentException("The payload type must not be empty.", nameof(payloadType));
        }

        byte[] signature = signer.Sign(BuildSigningInput(domain, payloadType, payload));
        return new SignedEnvelope(signer.PublicKey, payloadType.ToArray(), payload.ToArray(), signature);
    }

    /// <summary>
    /// Decodes an envelope and verifies its signature before returning it.
    /// </summary>
    /// <param name="serialized">The serialized <c>Envelope</c> protobuf.</param>
    /// <param name="domain">The domain the signature must cover; not empty.</param>
    /// <param name="expectedPayloadType">The payload type the caller accepts.</param>
    /// <param name="verifier">The signature verifier.</param>
    /// <returns>The verified envelope.</returns>
    /// <exception cref="InvalidDataException">
    /// The bytes are malformed, the public key is missing or invalid, the payload type differs from
    /// <paramref name="expectedPayloadType"/>, or the signature does not verify for <paramref name="domain"/>.
    /// </exception>
    /// <exception cref="ArgumentException"><paramref name="domain"/> is empty.</exception>
    public static SignedEnvelope Open(ReadOnlySpan<byte> serialized, string domain, ReadOnlySpan<byte> expectedPayloadType, ISignatureVerifier verifier)
    {
        ArgumentException.ThrowIfNullOrEmpty(domain);
        ArgumentNullException.ThrowIfNull(verifier);

        Pb.Envelope message;
        try
        {
            message = Pb.Envelope.Parser.ParseFrom(serialized);
        }
        catch (InvalidProtocolBufferException ex)
        {
            throw new InvalidDataException("The signed envelope is not a valid protobuf.", ex);
        }

        if (message.PublicKey is null)
        {
            throw new InvalidDataException("The signed envelope has no public key.");
        }

        PublicKey publicKey;
        try
        {
            publicKey = PublicKey.FromProtobuf(message.PublicKey.ToByteArray());
        }
        catch (FormatException ex)
        {
            throw new InvalidDataException("The signed envelope's public key is invalid.", ex);
        }

        ReadOnlySpan<byte> payloadType = message.PayloadType.Span;
        if (!payloadType.SequenceEqual(expectedPayloadType))
        {
            throw new InvalidDataException(
                $"Unexpected envelope payload type {Convert.ToHexStringLower(payloadType)}; expected {Convert.ToHexStringLower(expectedPayloadType)}.");
        }

        ReadOnlySpan<byte> payload = message.Payload.Span;
        ReadOnlySpan<byte> signature = message.Signature.Span;
        if (!verifier.Verify(publicKey, BuildSigningInput(domain, payloadType, payload), signature))
        {
            throw new InvalidDataException("The signed envelope's signature does not verify for this domain.");
        }

        return new SignedEnvelope(publicKey, payloadType.ToArray(), payload.ToArray(), signature.ToArray());
    }

    /// <summary>Serializes the envelope (<c>public_key</c>, <c>payload_type</c>, <c>payload</c>, <c>signature</c>, in field order).</summary>
    /// <returns>The serialized <c>Envelope</c> protobuf.</returns>
    public byte[] ToByteArray() => new Pb.Envelope
    {
        PublicKey = new Pb.PublicKey { Type = (Pb.KeyType)PublicKey.Type, Data = ByteString.CopyFrom(PublicKey.Data.Span) },
        PayloadType = ByteString.CopyFrom(_payloadType),
        Payload = ByteString.CopyFrom(_payload),
        Signature = ByteString.CopyFrom(_signature),
    }.ToByteArray();

    /// <summary>
    /// The signed bytes: <c>uvarint(len(domain)) ‖ domain ‖ uvarint(len(type)) ‖ type ‖ uvarint(len(payload)) ‖ payload</c>.
    /// </summary>
    internal static byte[] BuildSigningInput(string domain, ReadOnlySpan<byte> payloadType, ReadOnlySpan<byte> payload)
    {
        int domainLength = System.Text.Encoding.UTF8.GetByteCount(domain);
        int total = Varint.GetByteCount((ulong)domainLength) + domainLength
            + Varint.GetByteCount((ulong)payloadType.Length) + payloadType.Length
            + Varint.GetByteCount((ulong)payload.Length) + payload.Length;

        var buffer = new byte[total];
        Span<byte> span = buffer;
        int offset = Varint.Write(span, (ulong)domainLength);
        offset += System.Text.Encoding.UTF8.GetBytes(domain, span[offset..]);
        offset += Varint.Write(span[offset..], (ulong)payloadType.Length);
        payloadType.CopyTo(span[offset..]);
        offset += payloadType.Length;
        offset += Varint.Write(span[offset..], (ulong)payload.Length);
        payload.CopyTo(span[offset..]);
        return buffer;
    }
}
