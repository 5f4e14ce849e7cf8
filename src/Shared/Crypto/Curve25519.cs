namespace CircuitRelay.Crypto;

/// <summary>Access to the default <see cref="ICurve25519"/> provider.</summary>
internal static class Curve25519
{
    /// <summary>
    /// The default provider: OpenSSL 3 libcrypto through P/Invoke (<c>libcrypto.so.3</c>, falling back
    /// to <c>libcrypto</c>). The library is loaded on first use.
    /// </summary>
    public static ICurve25519 Default { get; } = OpenSslCurve25519.Instance;
}
