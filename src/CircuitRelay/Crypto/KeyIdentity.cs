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

    /// <summary>
    /// The identity persisted at <paramref name="path"/> (a private key in the libp2p protobuf format), or a new Ed25519
    /// one written there first (the directory created, the file readable by its owner only where the system has modes),
    /// so a node keeps its peer id across restarts.
    /// </summary>
    /// <exception cref="IOException">The file cannot be read or written.</exception>
    /// <exception cref="FormatException">The file holds no valid private key.</exception>
    public static KeyIdentity LoadOrCreate(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (File.Exists(path))
        {
            return new KeyIdentity(PrivateKey.FromProtobuf(File.ReadAllBytes(path)));
        }

        PrivateKey key = PrivateKey.GenerateEd25519();
        string? directory = Path.GetDirectoryName(Path.GetFullPath(path));
        if (directory is not null)
        {
            Directory.CreateDirectory(directory);
        }

        File.WriteAllBytes(path, key.ToProtobuf());
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }

        return new KeyIdentity(key);
    }

    /// <inheritdoc />
    /// <exception cref="ObjectDisposedException">The identity has been disposed.</exception>
    public byte[] Sign(ReadOnlySpan<byte> data) => _key.Sign(data);

    /// <summary>Disposes the underlying key. Idempotent.</summary>
    public void Dispose() => _key.Dispose();
}
