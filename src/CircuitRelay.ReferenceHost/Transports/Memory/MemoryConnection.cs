using System.IO.Pipelines;
using CircuitRelay.Abstractions;

namespace CircuitRelay.ReferenceHost.Transports.Memory;

/// <summary>
/// One end of a <see cref="MemoryLink"/>. Completing <see cref="Output"/> half-closes (the remote reads end of
/// stream after every byte); <see cref="Abort"/> resets both ends; <see cref="DisposeAsync"/> completes both of
/// this end's pipes, is idempotent and safe after <see cref="Abort"/>.
/// </summary>
internal sealed class MemoryConnection : ITransportConnection
{
    private readonly MemoryLink _link;
    private readonly Action _closed;
    private int _disposed;

    /// <param name="link">The wire.</param>
    /// <param name="end">This end's pipes (from <see cref="MemoryLink.CreateDialerEnd"/> or <see cref="MemoryLink.CreateAcceptorEnd"/>).</param>
    /// <param name="direction">Outbound for the dialer, inbound for the acceptor.</param>
    /// <param name="remoteAddress">The remote end as this end sees it.</param>
    /// <param name="localAddress">This end's address.</param>
    /// <param name="closed">Runs once when this end is disposed or the link is reset (the node forgets the connection).</param>
    public MemoryConnection(MemoryLink link, IDuplexPipe end, ConnectionDirection direction, Multiaddr remoteAddress, Multiaddr localAddress, Action<MemoryConnection> closed)
    {
        _link = link;
        Input = end.Input;
        Output = end.Output;
        Direction = direction;
        RemoteAddress = remoteAddress;
        LocalAddress = localAddress;
        int once = 0;
        _closed = () =>
        {
            if (Interlocked.Exchange(ref once, 1) == 0)
            {
                closed(this);
            }
        };
        link.OnReset(_closed);
    }

    public PipeReader Input { get; }

    public PipeWriter Output { get; }

    public ConnectionDirection Direction { get; }

    public Multiaddr RemoteAddress { get; }

    public Multiaddr? LocalAddress { get; }

    public PeerId? ClaimedRemotePeer => null;

    public PeerId? Relay => null;

    public RelayLimit? Limit => null;

    /// <summary>Whether the link was reset (by either end, or because a node died).</summary>
    internal bool IsReset => _link.IsReset;

    public void Abort() => _link.Reset();

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        // Graceful: what was flushed stays readable by the remote, followed by end of stream.
        await Output.CompleteAsync().ConfigureAwait(false);
        await Input.CompleteAsync().ConfigureAwait(false);
        _closed();
    }

    public override string ToString() => $"memory {Direction} {LocalAddress} -> {RemoteAddress}";
}
