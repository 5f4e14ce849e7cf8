namespace CircuitRelay.Multiformats;

/// <summary>
/// Multibase: a one-character prefix naming the base, then the encoded bytes. Supported prefixes:
/// <c>z</c> base58btc, <c>b</c>/<c>B</c> base32 lower/upper, <c>u</c> base64url, <c>m</c> base64,
/// <c>f</c>/<c>F</c> base16 lower/upper (all without padding).
/// </summary>
internal static class Multibase
{
    /// <summary>base58btc.</summary>
    public const char Base58Btc = 'z';

    /// <summary>base32 lowercase, no padding.</summary>
    public const char Base32Lower = 'b';

    /// <summary>base32 uppercase, no padding.</summary>
    public const char Base32Upper = 'B';

    /// <summary>base64url, no padding.</summary>
    public const char Base64Url = 'u';

    /// <summary>base64, no padding.</summary>
    public const char Base64 = 'm';

    /// <summary>base16 lowercase.</summary>
    public const char Base16Lower = 'f';

    /// <summary>base16 uppercase.</summary>
    public const char Base16Upper = 'F';

    /// <summary>Encodes <paramref name="data"/> with the base named by <paramref name="prefix"/>, prefix included.</summary>
    /// <exception cref="ArgumentException">The prefix is not supported.</exception>
    public static string Encode(char prefix, ReadOnlySpan<byte> data)
    {
        if (prefix == Base58Btc)
        {
            return prefix + Base58.Encode(data);
        }

        BaseN codec = GetBaseN(prefix) ?? throw new ArgumentException($"The multibase prefix '{prefix}' is not supported.", nameof(prefix));
        return EncodeWith(codec, prefix, data);
    }

    /// <summary>Decodes multibase text.</summary>
    /// <exception cref="FormatException">The text is empty, the prefix is unsupported, or the rest is not valid in that base.</exception>
    public static byte[] Decode(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return TryDecode(text, out byte[] result, out string? error) ? result : throw new FormatException(error);
    }

    /// <summary>Decodes multibase text without throwing.</summary>
    public static bool TryDecode(ReadOnlySpan<char> text, out byte[] result, [System.Diagnostics.CodeAnalysis.NotNullWhen(false)] out string? error)
    {
        result = [];
        if (text.IsEmpty)
        {
            error = "The multibase text is empty.";
            return false;
        }

        char prefix = text[0];
        ReadOnlySpan<char> body = text[1..];
        bool ok;
        if (prefix == Base58Btc)
        {
            ok = Base58.TryDecode(body, out result);
        }
        else if (GetBaseN(prefix) is { } codec)
        {
            ok = codec.TryDecode(body, out result);
        }
        else
        {
            error = $"The multibase prefix '{prefix}' is not supported.";
            return false;
        }

        error = ok ? null : $"The text after the multibase prefix '{prefix}' is not valid in that base.";
        return ok;
    }

    private static string EncodeWith(BaseN codec, char prefix, ReadOnlySpan<byte> data)
    {
        int count = codec.GetCharCount(data.Length);
        Span<char> chars = count < 512 ? stackalloc char[count + 1] : new char[count + 1];
        chars[0] = prefix;
        codec.Encode(data, chars[1..]);
        return new string(chars);
    }

    private static BaseN? GetBaseN(char prefix) => prefix switch
    {
        Base32Lower => BaseN.Base32Lower,
        Base32Upper => BaseN.Base32Upper,
        Base64Url => BaseN.Base64Url,
        Base64 => BaseN.Base64,
        Base16Lower => BaseN.Base16Lower,
        Base16Upper => BaseN.Base16Upper,
        _ => null,
    };
}
