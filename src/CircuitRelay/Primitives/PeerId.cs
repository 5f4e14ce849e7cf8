namespace CircuitRelay;

// STUB: replaced by the primitives work (see helper task). Only the shape is final.
/// <summary>A libp2p peer identifier: the multihash of the peer's serialized public key.</summary>
public sealed class PeerId : IEquatable<PeerId>
{
    private readonly byte[] _bytes;

    private PeerId(byte[] bytes) => _bytes = bytes;

    /// <summary>Creates a peer id from its binary multihash form.</summary>
    public static PeerId FromBytes(ReadOnlySpan<byte> multihash) => new(multihash.ToArray());

    /// <summary>Returns the binary multihash form.</summary>
    public byte[] ToByteArray() => (byte[])_bytes.Clone();

    /// <inheritdoc />
    public bool Equals(PeerId? other) => other is not null && _bytes.AsSpan().SequenceEqual(other._bytes);

    /// <inheritdoc />
    public override bool Equals(object? obj) => Equals(obj as PeerId);

    /// <inheritdoc />
    public override int GetHashCode()
    {
        var hash = new HashCode();
        hash.AddBytes(_bytes);
        return hash.ToHashCode();
    }

    /// <inheritdoc />
    public override string ToString() => Convert.ToHexString(_bytes);
}
