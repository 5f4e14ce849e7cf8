using System.Diagnostics.CodeAnalysis;
using System.Security.Cryptography;
using CircuitRelay.Multiformats;

namespace CircuitRelay;

/// <summary>
/// A libp2p peer identifier: the multihash of the peer's serialized public key. Keys of at most
/// 42 bytes (Ed25519, secp256k1) are inlined with the identity multihash; longer keys (RSA, ECDSA)
/// are hashed with SHA2-256. Equality is on the multihash bytes.
/// </summary>
public sealed class PeerId : IEquatable<PeerId>
{
    /// <summary>Serialized keys up to this length are inlined (identity multihash) rather than hashed.</summary>
    internal const int MaxInlineKeyLength = 42;

    /// <summary>The longest identity digest accepted when parsing.</summary>
    internal const int MaxIdentityDigestLength = 128;

    /// <summary>The multicodec of CIDv1.</summary>
    internal const ulong CidV1 = 0x01;

    /// <summary>The multicodec <c>libp2p-key</c>.</summary>
    internal const ulong Libp2pKeyCodec = 0x72;

    // Longer text cannot hold a valid id; refusing it early bounds the quadratic base58 work.
    private const int MaxTextLength = 512;

    private readonly byte[] _bytes;
    private int _hashCode;
    private readonly int _digestOffset;
    private readonly bool _isIdentity;
    private string? _text;

    private PeerId(byte[] bytes, int digestOffset, bool isIdentity)
    {
        _bytes = bytes;
        _digestOffset = digestOffset;
        _isIdentity = isIdentity;
    }

    /// <summary>The length of the binary (multihash) form, in bytes.</summary>
    public int ByteLength => _bytes.Length;

    /// <summary>Creates a peer id from its binary multihash form.</summary>
    /// <param name="multihash">An identity multihash (digest of 1 to 128 bytes) or a SHA2-256 multihash.</param>
    /// <returns>The peer id.</returns>
    /// <exception cref="FormatException">The bytes are not such a multihash.</exception>
    public static PeerId FromBytes(ReadOnlySpan<byte> multihash) =>
        TryCreate(multihash, out PeerId? peerId, out string? error) ? peerId : throw new FormatException(error);

    /// <summary>Creates a peer id from its binary multihash form without throwing.</summary>
    /// <param name="multihash">The multihash bytes.</param>
    /// <param name="peerId">The peer id, when valid.</param>
    /// <returns>Whether the bytes are a valid peer id.</returns>
    public static bool TryFromBytes(ReadOnlySpan<byte> multihash, [NotNullWhen(true)] out PeerId? peerId) =>
        TryCreate(multihash, out peerId, out _);

    /// <summary>Derives the peer id of a public key.</summary>
    /// <param name="publicKeyProtobuf">The serialized <c>PublicKey</c> protobuf (type and data).</param>
    /// <returns>The identity multihash of the key when it is at most 42 bytes, else its SHA2-256 multihash.</returns>
    /// <exception cref="ArgumentException">The key is empty.</exception>
    public static PeerId FromSerializedPublicKey(ReadOnlySpan<byte> publicKeyProtobuf)
    {
        if (publicKeyProtobuf.IsEmpty)
        {
            throw new ArgumentException("The serialized public key is empty.", nameof(publicKeyProtobuf));
        }

        if (publicKeyProtobuf.Length <= MaxInlineKeyLength)
        {
            byte[] inline = Multihash.Create(Multihash.Identity, publicKeyProtobuf);
            return new PeerId(inline, inline.Length - publicKeyProtobuf.Length, isIdentity: true);
        }

        Span<byte> digest = stackalloc byte[SHA256.HashSizeInBytes];
        SHA256.HashData(publicKeyProtobuf, digest);
        return new PeerId(Multihash.Create(Multihash.Sha2_256, digest), 2, isIdentity: false);
    }

    /// <summary>
    /// Parses the text form: legacy base58btc (starting <c>1</c> or <c>Qm</c>) or a multibase CIDv1 with
    /// the <c>libp2p-key</c> codec (e.g. <c>bafz…</c>).
    /// </summary>
    /// <param name="text">The text.</param>
    /// <returns>The peer id.</returns>
    /// <exception cref="FormatException">The text is neither form, or the multihash inside is invalid.</exception>
    public static PeerId Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return TryParseCore(text, out PeerId? peerId, out string? error) ? peerId : throw new FormatException(error);
    }

    /// <summary>Parses the text form without throwing.</summary>
    /// <param name="text">The text.</param>
    /// <param name="peerId">The peer id, when valid.</param>
    /// <returns>Whether the text is a valid peer id.</returns>
    public static bool TryParse([NotNullWhen(true)] string? text, [NotNullWhen(true)] out PeerId? peerId)
    {
        if (text is null)
        {
            peerId = null;
            return false;
        }

        return TryParseCore(text, out peerId, out _);
    }

    /// <summary>Returns a copy of the binary multihash form.</summary>
    /// <returns>The multihash bytes.</returns>
    public byte[] ToByteArray() => (byte[])_bytes.Clone();

    /// <summary>Returns the binary multihash form without copying.</summary>
    /// <returns>The multihash bytes.</returns>
    public ReadOnlySpan<byte> AsSpan() => _bytes;

    /// <summary>Returns the legacy base58btc text form (<c>12D3KooW…</c>, <c>16Uiu2…</c>, <c>Qm…</c>).</summary>
    /// <returns>The text.</returns>
    public override string ToString() => _text ??= Base58.Encode(_bytes);

    /// <summary>Returns the CIDv1 text form: base32 multibase of <c>0x01 0x72 multihash</c> (<c>bafz…</c>).</summary>
    /// <returns>The text.</returns>
    public string ToCidString()
    {
        byte[] cid = new byte[2 + _bytes.Length];
        cid[0] = (byte)CidV1;
        cid[1] = (byte)Libp2pKeyCodec;
        _bytes.CopyTo(cid, 2);
        return Multibase.Encode(Multibase.Base32Lower, cid);
    }

    /// <summary>Returns the serialized public key embedded in an identity-multihash peer id.</summary>
    /// <param name="serializedPublicKey">The key protobuf bytes, or <see langword="null"/> when the id is a hash.</param>
    /// <returns>Whether the id inlines its key.</returns>
    public bool TryGetInlinePublicKey([NotNullWhen(true)] out byte[]? serializedPublicKey)
    {
        serializedPublicKey = _isIdentity ? _bytes[_digestOffset..] : null;
        return serializedPublicKey is not null;
    }

    /// <inheritdoc />
    public bool Equals([NotNullWhen(true)] PeerId? other) =>
        other is not null && (ReferenceEquals(this, other) || _bytes.AsSpan().SequenceEqual(other._bytes));

    /// <inheritdoc />
    public override bool Equals([NotNullWhen(true)] object? obj) => Equals(obj as PeerId);

    /// <inheritdoc />
    /// <remarks>Computed once (the id is immutable): the relay pool looks ids up 10,000 times per selection.</remarks>
    public override int GetHashCode()
    {
        int cached = Volatile.Read(ref _hashCode);
        if (cached != 0)
        {
            return cached;
        }

        var hash = new HashCode();
        hash.AddBytes(_bytes);
        cached = hash.ToHashCode();
        cached = cached == 0 ? 1 : cached;
        Volatile.Write(ref _hashCode, cached);
        return cached;
    }

    /// <summary>Compares two peer ids by value.</summary>
    /// <param name="left">The first id.</param>
    /// <param name="right">The second id.</param>
    /// <returns>Whether both are null or both have the same bytes.</returns>
    public static bool operator ==(PeerId? left, PeerId? right) => left is null ? right is null : left.Equals(right);

    /// <summary>Compares two peer ids by value.</summary>
    /// <param name="left">The first id.</param>
    /// <param name="right">The second id.</param>
    /// <returns>Whether they differ.</returns>
    public static bool operator !=(PeerId? left, PeerId? right) => !(left == right);

    internal static bool TryCreate(ReadOnlySpan<byte> multihash, [NotNullWhen(true)] out PeerId? peerId, [NotNullWhen(false)] out string? error)
    {
        peerId = null;
        if (!Multihash.TryParse(multihash, out ulong code, out int digestOffset, out int digestLength))
        {
            error = "The peer id is not a well-formed multihash.";
            return false;
        }

        switch (code)
        {
            case Multihash.Identity when digestLength is >= 1 and <= MaxIdentityDigestLength:
                peerId = new PeerId(multihash.ToArray(), digestOffset, isIdentity: true);
                error = null;
                return true;
            case Multihash.Identity:
                error = $"The identity-multihash peer id has a {digestLength}-byte digest; 1 to {MaxIdentityDigestLength} bytes are accepted.";
                return false;
            case Multihash.Sha2_256 when digestLength == SHA256.HashSizeInBytes:
                peerId = new PeerId(multihash.ToArray(), digestOffset, isIdentity: false);
                error = null;
                return true;
            case Multihash.Sha2_256:
                error = $"The sha2-256 peer id has a {digestLength}-byte digest; 32 bytes are required.";
                return false;
            default:
                error = $"The peer id uses multihash code 0x{code:x}; only identity (0x00) and sha2-256 (0x12) are accepted.";
                return false;
        }
    }

    private static bool TryParseCore(string text, [NotNullWhen(true)] out PeerId? peerId, [NotNullWhen(false)] out string? error)
    {
        peerId = null;
        if (text.Length == 0)
        {
            error = "The peer id text is empty.";
            return false;
        }

        if (text.Length > MaxTextLength)
        {
            error = $"The peer id text is {text.Length} characters long; no valid peer id is longer than {MaxTextLength}.";
            return false;
        }

        byte[] multihash;
        if (text[0] == '1' || text.StartsWith("Qm", StringComparison.Ordinal))
        {
            if (!Base58.TryDecode(text, out multihash))
            {
                error = "The peer id text is not valid base58btc.";
                return false;
            }
        }
        else
        {
            if (!Multibase.TryDecode(text, out byte[] cid, out string? multibaseError))
            {
                error = $"The peer id text is neither base58btc nor a multibase CID: {multibaseError}";
                return false;
            }

            int offset = 0;
            if (!Varint.TryReadAt(cid, ref offset, out ulong version) || version != CidV1)
            {
                error = "The peer id CID is not CIDv1.";
                return false;
            }

            if (!Varint.TryReadAt(cid, ref offset, out ulong codec) || codec != Libp2pKeyCodec)
            {
                error = "The peer id CID does not use the libp2p-key codec (0x72).";
                return false;
            }

            multihash = cid[offset..];
        }

        return TryCreate(multihash, out peerId, out error);
    }
}
