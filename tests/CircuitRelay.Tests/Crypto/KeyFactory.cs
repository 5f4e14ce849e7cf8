using System.Security.Cryptography;
using CircuitRelay.Crypto;

namespace CircuitRelay.Tests.Crypto;

/// <summary>Fresh keys of each type for round-trip tests.</summary>
internal static class KeyFactory
{
    public static PrivateKey Generate(string kind) => kind switch
    {
        "ed25519" => PrivateKey.GenerateEd25519(),
        "secp256k1" => PrivateKey.GenerateSecp256k1(),
        "ecdsa" => PrivateKey.GenerateEcdsaP256(),
        "rsa" => GenerateRsa2048(),
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };

    public static PrivateKey GenerateRsa2048()
    {
        using var rsa = RSA.Create(2048);
        return PrivateKey.FromRsa(rsa);
    }
}
