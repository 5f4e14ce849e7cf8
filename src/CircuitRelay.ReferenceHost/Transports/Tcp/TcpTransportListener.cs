using System.Net;
using System.Net.Sockets;
using CircuitRelay.Abstractions;

namespace CircuitRelay.ReferenceHost.Transports.Tcp;

/// <summary>A listening TCP socket. <see cref="AcceptAsync"/> returns <see langword="null"/> once the listener is disposed.</summary>
internal sealed class TcpTransportListener : ITransportListener
{
    private readonly TcpTransport _owner;
    private readonly Socket _socket;
    private int _disposed;

    public TcpTransportListener(TcpTransport owner, Socket socket)
    {
        _owner = owner;
        _socket = socket;
        LocalEndPoint = (IPEndPoint)socket.LocalEndPoint!;
        Addresses = [Multiaddr.FromIPEndPoint(LocalEndPoint)];
    }

    /// <summary>The bound end point (port resolved).</summary>
    public IPEndPoint LocalEndPoint { get; }

    public IReadOnlyList<Multiaddr> Addresses { get; }

    public async ValueTask<ITransportConnection?> AcceptAsync(CancellationToken cancellationToken = default)
    {
        while (Volatile.Read(ref _disposed) == 0)
        {
            Socket socket;
            try
            {
                socket = await _socket.AcceptAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is SocketException or ObjectDisposedException && Volatile.Read(ref _disposed) != 0)
            {
                return null;
            }
            catch (SocketException ex) when (ex.SocketErrorCode is SocketError.ConnectionAborted or SocketError.ConnectionReset)
            {
                // The peer gave up before we accepted it.
                continue;
            }
            catch (SocketException ex)
            {
                throw new IOException($"Accepting on {Addresses[0]} failed: {ex.Message}", ex);
            }

            try
            {
                return TcpConnection.Create(socket, ConnectionDirection.Inbound);
            }
            catch (SocketException)
            {
                // The peer left before we looked at it.
                socket.Dispose();
            }
        }

        return null;
    }

    public ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            _owner.Forget(this);
            _socket.Dispose();
        }

        return ValueTask.CompletedTask;
    }

    public override string ToString() => $"tcp listener {Addresses[0]}";
}
