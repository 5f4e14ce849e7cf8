using CircuitRelay.Crypto;
using CircuitRelay.Abstractions;
using Google.Protobuf;

namespace CircuitRelay.ReferenceHost.Noise;

/// <summary>
/// The libp2p <c>NoiseHandshakePayload</c> (digest 5.3): the identity key, its signature over the Noise
/// static key, and the <c>stream_muxers</c> extension.
/// </summary>
internal static class NoisePayload
{
    /// <summary>go-libp2p ignores <c>stream_muxers</c> lists longer than this; so do we.</summary>
    public const int MaxMuxers = 100;

    /// <summary>The 24-byte prefix of the signed data: <c>"noise-libp2p-static-key:"</c>.</summary>
    public static ReadOnlySpan<byte> SignaturePrefix => "noise-libp2p-static-key:"u8;

    /// <summary>The bytes the identity signature covers: the prefix, then the raw 32-byte static key.</summary>
    /// <param name="staticPublicKey">The Noise static X25519 public key.</param>
    /// <returns>A new array.</returns>
    public static byte[] SignedData(ReadOnlySpan<byte> staticPublicKey) => [.. SignaturePrefix, .. staticPublicKey];

    /// <summary>Builds and signs the local payload.</summary>
    /// <param name="identity">The local identity.</param>
    /// <param name="staticPublicKey">The local Noise static public key of this handshake.</param>
    /// <param name="muxers">The muxers to announce, in preference order; may be empty.</param>
    /// <returns>The serialized payload.</returns>
    public static byte[] Create(ILocalIdentity identity, ReadOnlySpan<byte> staticPublicKey, IReadOnlyList<string> muxers)
    {
        ArgumentNullException.ThrowIfNull(identity);
        byte[] signature = identity.Sign(SignedData(staticPublicKey));
        return Encode(identity.PublicKey.ToProtobuf(), signature, muxers);
    }

    /// <summary>
    /// Serializes a payload: <c>0a identity_key</c>, <c>12 identity_sig</c>, then <c>22 extensions</c>
    /// holding one <c>12 muxer</c> per entry. The extensions field is left out when there are no muxers.
    /// </summary>
    /// <param name="identityKey">The serialized <c>PublicKey</c> protobuf.</param>
    /// <param name="identitySignature">The signature over <see cref="SignedData"/>.</param>
    /// <param name="muxers">The muxers; may be empty.</param>
    /// <returns>The serialized payload.</returns>
    public static byte[] Encode(ReadOnlySpan<byte> identityKey, ReadOnlySpan<byte> identitySignature, IReadOnlyList<string> muxers)
    {
        ArgumentNullException.ThrowIfNull(muxers);
        var message = new Pb.NoiseHandshakePayload
        {
            IdentityKey = ByteString.CopyFrom(identityKey),
            IdentitySig = ByteString.CopyFrom(identitySignature),
        };

        if (muxers.Count > 0)
        {
            message.Extensions = new Pb.NoiseExtensions();
            message.Extensions.StreamMuxers.Add(muxers);
        }

        return message.ToByteArray();
    }

    /// <summary>
    /// Decodes the remote payload, verifies its signature over <paramref name="remoteStaticPublicKey"/>
    /// (the static key received in the handshake) and derives the remote peer id.
    /// </summary>
    /// <param name="payload">The decrypted payload.</param>
    /// <param name="remoteStaticPublicKey">The remote static key, as received.</param>
    /// <param name="verifier">The signature verifier.</param>
    /// <returns>The authenticated remote identity.</returns>
    /// <exception cref="InvalidDataException">
    /// The payload is not a valid protobuf, lacks the key or signature, carries an invalid key, or the
    /// signature does not verify.
    /// </exception>
    public static NoiseRemoteIdentity Verify(ReadOnlySpan<byte> payload, ReadOnlySpan<byte> remoteStaticPublicKey, ISignatureVerifier verifier)
    {
        ArgumentNullException.ThrowIfNull(verifier);
        Pb.NoiseHandshakePayload message;
        try
        {
            message = Pb.NoiseHandshakePayload.Parser.ParseFrom(payload);
        }
        catch (InvalidProtocolBufferException ex)
        {
            throw new InvalidDataException("The peer's Noise handshake payload is not a valid NoiseHandshakePayload protobuf.", ex);
        }

        if (!message.HasIdentityKey || message.IdentityKey.IsEmpty)
        {
            throw new InvalidDataException("The peer's Noise handshake payload has no identity_key.");
        }

        if (!message.HasIdentitySig || message.IdentitySig.IsEmpty)
        {
            throw new InvalidDataException("The peer's Noise handshake payload has no identity_sig.");
        }

        PublicKey key;
        try
        {
            key = PublicKey.FromProtobuf(message.IdentityKey.Span);
        }
        catch (FormatException ex)
        {
            throw new InvalidDataException($"The peer's Noise identity_key is not a valid libp2p public key: {ex.Message}", ex);
        }

        if (!verifier.Verify(key, SignedData(remoteStaticPublicKey), message.IdentitySig.Span))
        {
            throw new InvalidDataException($"The peer's Noise identity_sig does not verify: {key.ToPeerId()} did not sign the static key used in this handshake.");
        }

        IReadOnlyList<string> muxers = message.Extensions is { } extensions && extensions.StreamMuxers.Count <= MaxMuxers
            ? [.. extensions.StreamMuxers]
            : [];
        return new NoiseRemoteIdentity(key, key.ToPeerId(), muxers);
    }
}

/// <summary>A remote identity authenticated by the Noise handshake.</summary>
/// <param name="PublicKey">The remote identity key.</param>
/// <param name="PeerId">The peer id derived from <paramref name="PublicKey"/>.</param>
/// <param name="Muxers">The remote's <c>stream_muxers</c> extension; empty when it sent none.</param>
internal sealed record NoiseRemoteIdentity(PublicKey PublicKey, PeerId PeerId, IReadOnlyList<string> Muxers);
