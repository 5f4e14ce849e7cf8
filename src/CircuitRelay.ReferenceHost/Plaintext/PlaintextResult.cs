using CircuitRelay.Crypto;

namespace CircuitRelay.ReferenceHost.Plaintext;

/// <summary>What a <c>/plaintext/2.0.0</c> exchange learned about the remote.</summary>
/// <param name="RemotePeer">The remote's peer id, checked against <paramref name="RemotePublicKey"/>.</param>
/// <param name="RemotePublicKey">The remote's identity key.</param>
internal sealed record PlaintextResult(PeerId RemotePeer, PublicKey RemotePublicKey);
