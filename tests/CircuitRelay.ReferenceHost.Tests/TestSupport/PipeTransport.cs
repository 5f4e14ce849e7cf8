using System.Collections.Concurrent;
using System.IO.Pipelines;
using System.Threading.Channels;
using CircuitRelay.Abstractions;

namespace CircuitRelay.ReferenceHost.Tests.TestSupport;

/// <summary>
/// A test transport over crossed in-process pipes, addressed <c>/dns4/pipe-&lt;name&gt;/tcp/1</c>. With
/// <paramref name="simultaneousOpen"/> the accepted end says it dialed too (outbound on both ends), as a TCP
/// simultaneous open does in a hole punch.
/// </summary>
internal sealed class PipeTransport(PipeNetwork network, bool simultaneousOpen = false) : ITransport
{
    private int _dials;

    public string Name => "pipe";

    public static Multiaddr Address(string name) => Multiaddr.Parse($"/dns4/pipe-{name}/tcp/1");

    public bool CanDial(Multiaddr address) => IsPipe(address.WithoutPeerId());

    public bool CanListen(Multiaddr address) => IsPipe(address);

    public ValueTask<ITransportConnection> DialAsync(Multiaddr address, TransportDialOptions? options = null, CancellationToken cancellationToken = default)
    {
        Multiaddr target = address.WithoutPeerId();
        if (!network.Listeners.TryGetValue(target, out PipeListener? listener))
        {
            throw new IOException($"Nobody listens on {target}.");
        }

        Multiaddr local = Address("dialer-" + Interlocked.Increment(ref _dials));
        (DuplexPipe atDialer, DuplexPipe atListener) = DuplexPipe.CreatePair();
        var accepted = new PipeConnection(atListener, simultaneousOpen ? ConnectionDirection.Outbound : ConnectionDirection.Inbound, local, target);
        if (!listener.Backlog.Writer.TryWrite(accepted))
        {
            throw new IOException($"{target} is closed.");
        }

        return ValueTask.FromResult<ITransportConnection>(new PipeConnection(atDialer, ConnectionDirection.Outbound, target, local));
    }

    public ValueTask<ITransportListener> ListenAsync(Multiaddr address, CancellationToken cancellationToken = default)
    {
        var listener = new PipeListener(network, address);
        if (!network.Listeners.TryAdd(address, listener))
        {
            throw new IOException($"{address} is in use.");
        }

        return ValueTask.FromResult<ITransportListener>(listener);
    }

    private static bool IsPipe(Multiaddr address)
        => address.Components.Count == 2 && address.Components[0].Name == "dns4" && address.Components[0].Value!.StartsWith("pipe-", StringComparison.Ordinal);
}

/// <summary>The listeners of the pipe transports that share it.</summary>
internal sealed class PipeNetwork
{
    public ConcurrentDictionary<Multiaddr, PipeListener> Listeners { get; } = new();
}

internal sealed class PipeListener(PipeNetwork network, Multiaddr address) : ITransportListener
{
    public Channel<PipeConnection> Backlog { get; } = Channel.CreateUnbounded<PipeConnection>();

    public IReadOnlyList<Multiaddr> Addresses { get; } = [address];

    public async ValueTask<ITransportConnection?> AcceptAsync(CancellationToken cancellationToken = default)
        => await Backlog.Reader.WaitToReadAsync(cancellationToken) && Backlog.Reader.TryRead(out PipeConnection? connection) ? connection : null;

    public ValueTask DisposeAsync()
    {
        network.Listeners.TryRemove(address, out _);
        Backlog.Writer.TryComplete();
        return ValueTask.CompletedTask;
    }
}

internal sealed class PipeConnection(IDuplexPipe pipe, ConnectionDirection direction, Multiaddr remote, Multiaddr local) : ITransportConnection
{
    public ConnectionDirection Direction => direction;

    public Multiaddr RemoteAddress => remote;

    public Multiaddr? LocalAddress => local;

    public PeerId? ClaimedRemotePeer => null;

    public PeerId? Relay => null;

    public RelayLimit? Limit => null;

    public PipeReader Input => pipe.Input;

    public PipeWriter Output => pipe.Output;

    public void Abort()
    {
        pipe.Output.Complete(new IOException("The connection was aborted."));
        pipe.Input.Complete();
    }

    public ValueTask DisposeAsync()
    {
        pipe.Output.Complete();
        pipe.Input.Complete();
        return ValueTask.CompletedTask;
    }
}
