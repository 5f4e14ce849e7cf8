namespace CircuitRelay.ReferenceHost;

/// <summary>The security handshake a <see cref="Libp2pHost"/> runs on every connection (<see cref="Libp2pHostOptions.Security"/>).</summary>
public enum SecurityProtocol
{
    /// <summary>Noise XX (<c>/noise</c>), with the muxer negotiated in its extensions. What go-, rust- and js-libp2p speak.</summary>
    Noise,

    /// <summary>
    /// <c>/plaintext/2.0.0</c>: the two sides exchange public keys and check the peer id; nothing is encrypted or
    /// integrity-protected. For fast, deterministic tests over the memory transport; never on a real network.
    /// </summary>
    Plaintext,
}
