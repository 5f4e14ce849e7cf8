namespace CircuitRelay.AutoRelay;

/// <summary>A relay the pool would reserve on, with its score (0 to 1) and the usable addresses.</summary>
/// <param name="Relay">The relay.</param>
/// <param name="Addresses">Its addresses that pass the address filter.</param>
/// <param name="Score">Its score (see <see cref="RelayPool"/>).</param>
/// <param name="IsConfigured">Whether the operator configured it.</param>
public sealed record RelayCandidate(PeerId Relay, IReadOnlyList<Multiaddr> Addresses, double Score, bool IsConfigured);
