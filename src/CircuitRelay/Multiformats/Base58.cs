namespace CircuitRelay.Multiformats;

/// <summary>Base58 with the Bitcoin alphabet (multibase <c>z</c>, legacy peer id text).</summary>
internal static class Base58
{
    private const string Alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

    private static readonly sbyte[] DecodeMap = BuildDecodeMap();

    /// <summary>Encodes <paramref name="data"/>; each leading zero byte becomes a leading <c>1</c>.</summary>
    public static string Encode(ReadOnlySpan<byte> data)
    {
        int zeros = 0;
        while (zeros < data.Length && data[zeros] == 0)
        {
            zeros++;
        }

        // log(256) / log(58) ~ 1.366: upper bound on the number of base58 digits.
        int size = ((data.Length - zeros) * 138 / 100) + 1;
        byte[] digits = new byte[size];
        int length = 0;
        for (int i = zeros; i < data.Length; i++)
        {
            int carry = data[i];
            int j = 0;
            for (int k = size - 1; (carry != 0 || j < length) && k >= 0; k--, j++)
            {
                carry += 256 * digits[k];
                digits[k] = (byte)(carry % 58);
                carry /= 58;
            }

            length = j;
        }

        int start = size - length;
        return string.Create(zeros + length, (zeros, digits, start), static (chars, state) =>
        {
            chars[..state.zeros].Fill('1');
            for (int i = state.zeros; i < chars.Length; i++)
            {
                chars[i] = Alphabet[state.digits[state.start + i - state.zeros]];
            }
        });
    }

    /// <summary>Decodes base58 text; returns false on a character outside the alphabet.</summary>
    public static bool TryDecode(ReadOnlySpan<char> text, out byte[] result)
    {
        int zeros = 0;
        while (zeros < text.Length && text[zeros] == '1')
        {
            zeros++;
        }

        // log(58) / log(256) ~ 0.733: upper bound on the number of bytes.
        int size = ((text.Length - zeros) * 733 / 1000) + 1;
        byte[] bytes = new byte[size];
        int length = 0;
        for (int i = zeros; i < text.Length; i++)
        {
            char c = text[i];
            int carry = c < 128 ? DecodeMap[c] : -1;
            if (carry < 0)
            {
                result = [];
                return false;
            }

            int j = 0;
            for (int k = size - 1; (carry != 0 || j < length) && k >= 0; k--, j++)
            {
                carry += 58 * bytes[k];
                bytes[k] = (byte)carry;
                carry >>= 8;
            }

            length = j;
        }

        result = new byte[zeros + length];
        bytes.AsSpan(size - length).CopyTo(result.AsSpan(zeros));
        return true;
    }

    /// <summary>Decodes base58 text.</summary>
    /// <exception cref="FormatException">A character is outside the alphabet.</exception>
    public static byte[] Decode(ReadOnlySpan<char> text) =>
        TryDecode(text, out byte[] result) ? result : throw new FormatException("The text contains a character that is not base58btc.");

    private static sbyte[] BuildDecodeMap()
    {
        var map = new sbyte[128];
        map.AsSpan().Fill(-1);
        for (int i = 0; i < Alphabet.Length; i++)
        {
            map[Alphabet[i]] = (sbyte)i;
        }

        return map;
    }
}
