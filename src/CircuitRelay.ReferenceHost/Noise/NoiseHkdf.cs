using System.Security.Cryptography;

namespace CircuitRelay.ReferenceHost.Noise;

/// <summary>
/// The Noise <c>HKDF(chaining_key, input_key_material, 2)</c> function (noise_spec rev 34 §4.3; digest
/// 5.2) over HMAC-SHA256, exactly as the spec writes it:
/// <c>temp = HMAC(ck, ikm)</c>, <c>o1 = HMAC(temp, 0x01)</c>, <c>o2 = HMAC(temp, o1 ‖ 0x02)</c>.
/// </summary>
/// <remarks>
/// This is RFC 5869 HKDF with <c>salt = ck</c>, empty info and 64 bytes of output; the tests check
/// that equivalence against .NET's <see cref="HKDF"/>.
/// </remarks>
internal static class NoiseHkdf
{
    /// <summary>HASHLEN for SHA-256.</summary>
    public const int HashLength = 32;

    /// <summary>Derives two 32-byte outputs.</summary>
    /// <param name="chainingKey">The chaining key (the HMAC key of the extract step).</param>
    /// <param name="inputKeyMaterial">The input key material: empty or 32 bytes in Noise.</param>
    /// <param name="output1">Receives o1; may alias <paramref name="chainingKey"/>.</param>
    /// <param name="output2">Receives o2; may alias <paramref name="chainingKey"/>.</param>
    public static void Derive(ReadOnlySpan<byte> chainingKey, ReadOnlySpan<byte> inputKeyMaterial, Span<byte> output1, Span<byte> output2)
    {
        if (output1.Length != HashLength || output2.Length != HashLength)
        {
            throw new ArgumentException($"Both HKDF outputs must be {HashLength} bytes.");
        }

        Span<byte> temp = stackalloc byte[HashLength];
        Span<byte> block = stackalloc byte[HashLength + 1];
        try
        {
            // The extract step reads the chaining key before any output (which may alias it) is written.
            HMACSHA256.HashData(chainingKey, inputKeyMaterial, temp);

            block[0] = 0x01;
            HMACSHA256.HashData(temp, block[..1], block[..HashLength]);
            block[HashLength] = 0x02;
            HMACSHA256.HashData(temp, block, output2);
            block[..HashLength].CopyTo(output1);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(temp);
            CryptographicOperations.ZeroMemory(block);
        }
    }
}
