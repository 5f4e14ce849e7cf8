using System.Threading.Channels;
using CircuitRelay.Abstractions;

namespace CircuitRelay.ReferenceHost.Transports.Memory;

/// <summary>
/// A listener on a memory node: a bounded accept queue (a dial over <see cref="Backlog"/> is refused),
/// <see cref="AcceptAsync"/> returns <see langword="null"/> once closed, and disposal resets what was still queued.
/// </summary>
internal sealed class MemoryListener : ITransportListener
{
    /// <summary>How many connections may wait to be accepted; a dial over it is refused.</summary>
    internal const int Backlog = 128;

    private readonly MemoryTransport _node;
    private readonly Channel<MemoryConnection> _queue = Channel.CreateBounded<MemoryConnection>(new BoundedChannelOptions(Backlog)
    {
        FullMode = BoundedChannelFullMode.Wait,
        SingleWriter = false,
        SingleReader = false,
    });

    public MemoryListener(MemoryTransport node, IReadOnlyList<System.Net.IPEndPoint> endPoints)
    {
        _node = node;
        EndPoints = endPoints;
        Addresses = [.. endPoints.Select(Multiaddr.FromIPEndPoint)];
    }

    /// <summary>The endpoints the listener covers (one per bound address, all on the same port).</summary>
    internal IReadOnlyList<System.Net.IPEndPoint> EndPoints { get; }

    /// <summary>The port the listener is bound to.</summary>
    internal int Port => EndPoints[0].Port;

    public IReadOnlyList<Multiaddr> Addresses { get; }

    public async ValueTask<ITransportConnection?> AcceptAsync(CancellationToken cancellationToken = default)
    {
        ChannelReader<MemoryConnection> reader = _queue.Reader;
        while (await reader.WaitToReadAsync(cancellationToken).ConfigureAwait(false))
        {
            if (reader.TryRead(out MemoryConnection? connection))
            {
                return connection;
            }
        }

        return null;
    }

    public ValueTask DisposeAsync()
    {
        Close();
        return ValueTask.CompletedTask;
    }

    /// <summary>Whether the listener covers <paramref name="endPoint"/>.</summary>
    internal bool Covers(System.Net.IPEndPoint endPoint) => EndPoints.Contains(endPoint);

    /// <summary>Queues an inbound connection; <see langword="false"/> when the backlog is full or the listener closed.</summary>
    internal bool TryEnqueue(MemoryConnection connection) => _queue.Writer.TryWrite(connection);

    /// <summary>Stops accepting and resets the connections nobody accepted. Idempotent.</summary>
    internal void Close()
    {
        _node.Unbind(this);
        if (!_queue.Writer.TryComplete())
        {
            return;
        }

        while (_queue.Reader.TryRead(out MemoryConnection? pending))
        {
            pending.Abort();
        }
    }
}
