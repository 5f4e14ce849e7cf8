using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using CircuitRelay.Abstractions;

namespace CircuitRelay.ReferenceHost.Transports.Tcp;

/// <summary>A connected TCP socket as a raw transport connection (a <see cref="SocketPipe"/> plus its two ends).</summary>
internal sealed class TcpConnection : ITransportConnection
{
    private readonly SocketPipe _pipe;

    private TcpConnection(SocketPipe pipe, ConnectionDirection direction, Multiaddr remote, Multiaddr local)
    {
        _pipe = pipe;
        Direction = direction;
        RemoteAddress = remote;
        LocalAddress = local;
    }

    public ConnectionDirection Direction { get; }

    public Multiaddr RemoteAddress { get; }

    public Multiaddr? LocalAddress { get; }

    public PeerId? ClaimedRemotePeer => null;

    public PeerId? Relay => null;

    public RelayLimit? Limit => null;

    public PipeReader Input => _pipe.Input;

    public PipeWriter Output => _pipe.Output;

    /// <summary>Wraps a connected socket.</summary>
    /// <exception cref="SocketException">The peer already left (its end point is gone).</exception>
    public static TcpConnection Create(Socket socket, ConnectionDirection direction)
    {
        Multiaddr remote = Multiaddr.FromIPEndPoint((IPEndPoint)socket.RemoteEndPoint!);
        Multiaddr local = Multiaddr.FromIPEndPoint((IPEndPoint)socket.LocalEndPoint!);
        return new TcpConnection(new SocketPipe(socket), direction, remote, local);
    }

    public void Abort() => _pipe.Abort();

    public ValueTask DisposeAsync() => _pipe.DisposeAsync();

    public override string ToString() => $"tcp {Direction} {LocalAddress} <-> {RemoteAddress}";
}
