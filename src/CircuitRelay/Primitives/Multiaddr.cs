namespace CircuitRelay;

// STUB: replaced by the primitives work (see helper task). Only the shape is final.
/// <summary>A self-describing network address.</summary>
public sealed class Multiaddr : IEquatable<Multiaddr>
{
    private readonly byte[] _bytes;

    private Multiaddr(byte[] bytes) => _bytes = bytes;

    /// <summary>Parses the binary form.</summary>
    public static Multiaddr FromBytes(ReadOnlySpan<byte> bytes) => new(bytes.ToArray());

    /// <summary>Parses the text form.</summary>
    public static Multiaddr Parse(string text) => throw new NotImplementedException(text);

    /// <summary>Returns the binary form.</summary>
    public byte[] ToByteArray() => (byte[])_bytes.Clone();

    /// <inheritdoc />
    public bool Equals(Multiaddr? other) => other is not null && _bytes.AsSpan().SequenceEqual(other._bytes);

    /// <inheritdoc />
    public override bool Equals(object? obj) => Equals(obj as Multiaddr);

    /// <inheritdoc />
    public override int GetHashCode()
    {
        var hash = new HashCode();
        hash.AddBytes(_bytes);
        return hash.ToHashCode();
    }
}
