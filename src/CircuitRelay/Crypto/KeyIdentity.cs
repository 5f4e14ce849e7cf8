using CircuitRelay.Abstractions;

namespace CircuitRelay.Crypto;

/// <summary>
/// An <see cref="ILocalIdentity"/> backed by a <see cref="PrivateKey"/> held in process. The peer id is
/// derived from the key (<see cref="PublicKey.ToPeerId"/>).
/// </summary>
public sealed class KeyIdentity : ILocalIdentity, IDisposable
{
    private readonly PrivateKey _key;

    /// <summary>Wraps <paramref name="key"/>. The identity takes ownership and disposes it.</summary>
    /// <param name="key">The identity key.</param>
    public KeyIdentity(PrivateKey key)
    {
        ArgumentNullException.ThrowIfNull(key);
        _key = key;
        PeerId = key.PublicKey.ToPeerId();
    }

    /// <inheritdoc />
    public PeerId PeerId { get; }

    /// <inheritdoc />
    public PublicKey PublicKey => _key.PublicKey;

    /// <summary>Creates an identity with a new Ed25519 key.</summary>
    /// <returns>The identity.</returns>
    public static KeyIdentity Generate() => new(PrivateKey.GenerateEd25519());

    /// <inheritdoc />
    /// <exception cref="ObjectDisposedException">The identity has been disposed.</exception>
    public byte[] Sign(ReadOnlySpan<byte> data) => _key.Sign(data);

    /// <summary>Disposes the underlying key. Idempotent.</summary>
    public void Dispose() => _key.Dispose();
}
