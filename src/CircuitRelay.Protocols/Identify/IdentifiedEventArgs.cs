using CircuitRelay.Abstractions;

namespace CircuitRelay.Protocols.Identify;

/// <summary>A peer was identified (query answered) or pushed an update.</summary>
/// <param name="peer">The peer.</param>
/// <param name="info">The peer's latest information (after merging a push).</param>
/// <param name="connection">The connection the information arrived on.</param>
internal sealed class IdentifiedEventArgs(PeerId peer, IdentifyInfo info, ConnectionInfo connection) : EventArgs
{
    /// <summary>The peer.</summary>
    public PeerId Peer { get; } = peer;

    /// <summary>The peer's latest information.</summary>
    public IdentifyInfo Info { get; } = info;

    /// <summary>The connection the information arrived on.</summary>
    public ConnectionInfo Connection { get; } = connection;
}
