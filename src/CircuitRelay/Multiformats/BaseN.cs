namespace CircuitRelay.Multiformats;

/// <summary>
/// RFC 4648 encodings for power-of-two bases (16, 32, 64) without padding. Decoding is strict:
/// characters outside the alphabet, impossible lengths and non-zero trailing bits are rejected,
/// so every byte string has exactly one text form.
/// </summary>
internal sealed class BaseN
{
    /// <summary>Base16, lowercase (multibase <c>f</c>).</summary>
    public static readonly BaseN Base16Lower = new("0123456789abcdef", 4);

    /// <summary>Base16, uppercase (multibase <c>F</c>).</summary>
    public static readonly BaseN Base16Upper = new("0123456789ABCDEF", 4);

    /// <summary>Base32, lowercase, no padding (multibase <c>b</c>).</summary>
    public static readonly BaseN Base32Lower = new("abcdefghijklmnopqrstuvwxyz234567", 5);

    /// <summary>Base32, uppercase, no padding (multibase <c>B</c>).</summary>
    public static readonly BaseN Base32Upper = new("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 5);

    /// <summary>Base64, standard alphabet, no padding (multibase <c>m</c>).</summary>
    public static readonly BaseN Base64 = new("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/", 6);

    /// <summary>Base64, URL-safe alphabet, no padding (multibase <c>u</c>).</summary>
    public static readonly BaseN Base64Url = new("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", 6);

    private readonly string _alphabet;
    private readonly int _bits;
    private readonly sbyte[] _decodeMap;

    private BaseN(string alphabet, int bits)
    {
        _alphabet = alphabet;
        _bits = bits;
        _decodeMap = new sbyte[128];
        _decodeMap.AsSpan().Fill(-1);
        for (int i = 0; i < alphabet.Length; i++)
        {
            _decodeMap[alphabet[i]] = (sbyte)i;
        }
    }

    /// <summary>Returns the number of characters for <paramref name="byteCount"/> bytes.</summary>
    public int GetCharCount(int byteCount) => (int)(((long)byteCount * 8 + _bits - 1) / _bits);

    /// <summary>Encodes <paramref name="data"/>.</summary>
    public string Encode(ReadOnlySpan<byte> data)
    {
        Span<char> chars = data.Length <= 256 ? stackalloc char[GetCharCount(data.Length)] : new char[GetCharCount(data.Length)];
        Encode(data, chars);
        return new string(chars);
    }

    /// <summary>Encodes <paramref name="data"/> into <paramref name="destination"/>, which must hold <see cref="GetCharCount"/> characters.</summary>
    public void Encode(ReadOnlySpan<byte> data, Span<char> destination)
    {
        int mask = (1 << _bits) - 1;
        int buffer = 0;
        int pending = 0;
        int j = 0;
        foreach (byte b in data)
        {
            buffer = (buffer << 8) | b;
            pending += 8;
            while (pending >= _bits)
            {
                pending -= _bits;
                destination[j++] = _alphabet[(buffer >> pending) & mask];
            }

            buffer &= (1 << pending) - 1;
        }

        if (pending > 0)
        {
            destination[j] = _alphabet[(buffer << (_bits - pending)) & mask];
        }
    }

    /// <summary>Decodes <paramref name="text"/>; returns false on any malformation.</summary>
    public bool TryDecode(ReadOnlySpan<char> text, out byte[] result)
    {
        result = [];
        long totalBits = (long)text.Length * _bits;
        int byteCount = (int)(totalBits / 8);
        int leftoverBits = (int)(totalBits % 8);

        // Leftover bits must be fewer than one character's worth, or a character was added for nothing.
        if (leftoverBits >= _bits)
        {
            return false;
        }

        var bytes = new byte[byteCount];
        int buffer = 0;
        int pending = 0;
        int j = 0;
        foreach (char c in text)
        {
            int value = c < 128 ? _decodeMap[c] : -1;
            if (value < 0)
            {
                return false;
            }

            buffer = (buffer << _bits) | value;
            pending += _bits;
            if (pending >= 8)
            {
                pending -= 8;
                bytes[j++] = (byte)(buffer >> pending);
                buffer &= (1 << pending) - 1;
            }
        }

        // Trailing (padding) bits must be zero.
        if (buffer != 0)
        {
            return false;
        }

        result = bytes;
        return true;
    }

    /// <summary>Decodes <paramref name="text"/>.</summary>
    /// <exception cref="FormatException">The text is not valid in this encoding.</exception>
    public byte[] Decode(ReadOnlySpan<char> text) =>
        TryDecode(text, out byte[] result) ? result : throw new FormatException("The text is not valid in the expected base encoding.");
}
