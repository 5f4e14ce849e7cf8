using CircuitRelay.Multiformats;

namespace CircuitRelay;

/// <summary>One <c>/name/value</c> step of a <see cref="Multiaddr"/>. Immutable.</summary>
public sealed class MultiaddrComponent
{
    private MultiaddrComponent(MultiaddrProtocol protocol, byte[] encoded, int valueOffset, string? value, PeerId? peerId)
    {
        Protocol = protocol;
        Encoded = encoded;
        RawValue = encoded.AsMemory(valueOffset);
        Value = value;
        PeerId = peerId;
    }

    /// <summary>The protocol name, e.g. <c>ip4</c> or <c>p2p-circuit</c> (<c>ipfs</c> is reported as <c>p2p</c>).</summary>
    public string Name => Protocol.Name;

    /// <summary>The protocol's multicodec, e.g. 4 for <c>ip4</c>.</summary>
    public int Code => Protocol.Code;

    /// <summary>The value bytes as in the binary form, without any length prefix; empty for protocols without a value.</summary>
    public ReadOnlyMemory<byte> RawValue { get; }

    /// <summary>The value's canonical text, or <see langword="null"/> for protocols without a value.</summary>
    public string? Value { get; }

    /// <summary>The protocol table row.</summary>
    internal MultiaddrProtocol Protocol { get; }

    /// <summary>The complete binary encoding of this component (code, length prefix if any, value).</summary>
    internal ReadOnlyMemory<byte> Encoded { get; }

    /// <summary>The peer id of a <c>p2p</c> component.</summary>
    internal PeerId? PeerId { get; }

    /// <summary>Returns <c>/name</c> or <c>/name/value</c>.</summary>
    /// <returns>The text form.</returns>
    public override string ToString() => Value is null ? "/" + Name : "/" + Name + "/" + Value;

    /// <summary>Whether both components have the same protocol and value bytes.</summary>
    internal bool SameAs(MultiaddrComponent other) => Encoded.Span.SequenceEqual(other.Encoded.Span);

    /// <summary>Builds a component from a validated value.</summary>
    internal static MultiaddrComponent Create(MultiaddrProtocol protocol, ReadOnlySpan<byte> value, string? text, PeerId? peerId)
    {
        byte[] code = protocol.EncodedCode;
        int prefix = protocol.Size == MultiaddrProtocol.VariableSize ? Varint.GetByteCount((ulong)value.Length) : 0;
        var encoded = new byte[code.Length + prefix + value.Length];
        code.CopyTo(encoded, 0);
        if (prefix > 0)
        {
            Varint.Write(encoded.AsSpan(code.Length), (ulong)value.Length);
        }

        value.CopyTo(encoded.AsSpan(code.Length + prefix));
        return new MultiaddrComponent(protocol, encoded, code.Length + prefix, text, peerId);
    }
}
