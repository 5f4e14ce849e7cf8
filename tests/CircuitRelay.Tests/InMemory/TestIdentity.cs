using System.Security.Cryptography;
using CircuitRelay.Crypto;
using CircuitRelay.Abstractions;

namespace CircuitRelay.Tests.InMemory;

/// <summary>
/// A test-only identity: a random 34-byte identity multihash as peer id, and "signatures" that are
/// the SHA-256 of the data. It has no real key.
/// </summary>
internal sealed class TestIdentity : ILocalIdentity
{
    private TestIdentity(PeerId peerId) => PeerId = peerId;

    public PeerId PeerId { get; }

    public PublicKey PublicKey => throw new NotSupportedException("The test identity has no public key.");

    public static TestIdentity Create()
    {
        byte[] multihash = new byte[34];
        multihash[0] = 0x00; // identity
        multihash[1] = 32;
        RandomNumberGenerator.Fill(multihash.AsSpan(2));
        return new TestIdentity(PeerId.FromBytes(multihash));
    }

    public byte[] Sign(ReadOnlySpan<byte> data) => SHA256.HashData(data);
}

/// <summary>Accepts exactly the signatures <see cref="TestIdentity"/> makes.</summary>
internal sealed class TestSignatureVerifier : ISignatureVerifier
{
    public static TestSignatureVerifier Instance { get; } = new();

    public bool Verify(PublicKey key, ReadOnlySpan<byte> data, ReadOnlySpan<byte> signature) =>
        signature.SequenceEqual(SHA256.HashData(data));
}
