using System.Globalization;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using CircuitRelay.Abstractions;
using CircuitRelay.ReferenceHost.Multistream;
using CircuitRelay.ReferenceHost.Noise;
using CircuitRelay.ReferenceHost.Tcp;
using CircuitRelay.ReferenceHost.Yamux;
using CircuitRelay.Transport;
using Microsoft.Extensions.Logging;

namespace CircuitRelay.ReferenceHost;

public sealed partial class Libp2pHost
{
    private void Listen(Multiaddr address)
    {
        if (!address.TryGetIPEndPoint(out IPEndPoint? endPoint))
        {
            throw new ArgumentException($"Cannot listen on '{address}'.", nameof(address));
        }

        var socket = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            socket.Bind(endPoint);
            socket.Listen(512);
        }
        catch
        {
            socket.Dispose();
            throw;
        }

        Multiaddr bound = Multiaddr.FromIPEndPoint((IPEndPoint)socket.LocalEndPoint!);
        lock (_lock)
        {
            _listeners.Add(socket);
            _listenAddresses.Add(bound);
        }

        Log.Listening(_logger, bound.WithPeerId(Identity.PeerId));
        Track(AcceptLoopAsync(socket));
    }

    private async Task AcceptLoopAsync(Socket listener)
    {
        await Task.Yield();
        while (!_shutdown.IsCancellationRequested)
        {
            Socket socket;
            try
            {
                socket = await listener.AcceptAsync(_shutdown.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is SocketException or ObjectDisposedException or OperationCanceledException)
            {
                return;
            }

            if (Interlocked.Increment(ref _inboundConnections) > _options.MaxInboundConnections)
            {
                Interlocked.Decrement(ref _inboundConnections);
                RefuseInbound(socket);
                continue;
            }

            Track(HandleInboundSocketAsync(socket));
        }
    }

    private void RefuseInbound(Socket socket)
    {
        try
        {
            Log.InboundConnectionRefused(_logger, Multiaddr.FromIPEndPoint((IPEndPoint)socket.RemoteEndPoint!), _options.MaxInboundConnections);
            socket.LingerState = new LingerOption(true, 0); // RST: nothing was said, nothing is owed
        }
        catch (SocketException)
        {
            // Already gone.
        }

        socket.Dispose();
    }

    /// <summary>
    /// Upgrades an accepted socket. Its place under <see cref="Libp2pHostOptions.MaxInboundConnections"/> is given
    /// back here when the upgrade fails, else by <see cref="ServeConnectionAsync"/> when the connection ends.
    /// </summary>
    private async Task HandleInboundSocketAsync(Socket socket)
    {
        await Task.Yield();
        Multiaddr remote, local;
        try
        {
            remote = Multiaddr.FromIPEndPoint((IPEndPoint)socket.RemoteEndPoint!);
            local = Multiaddr.FromIPEndPoint((IPEndPoint)socket.LocalEndPoint!);
        }
        catch (SocketException)
        {
            // The peer left before we looked at it.
            socket.Dispose();
            Interlocked.Decrement(ref _inboundConnections);
            return;
        }

        var pipe = new SocketPipe(socket);
        bool established = false;
        try
        {
            await UpgradeAsync(pipe, pipe, pipe.Abort, initiator: false, expected: null, remote, local, relayed: false, limit: null, _shutdown.Token).ConfigureAwait(false);
            established = true;
        }
        catch (Exception ex) when (ex is IOException or InvalidDataException or OperationCanceledException or TimeoutException)
        {
            // UpgradeAsync logged and released everything.
        }
        finally
        {
            if (!established)
            {
                Interlocked.Decrement(ref _inboundConnections);
            }
        }
    }

    private async Task AcceptRelayedLoopAsync(CircuitListener listener)
    {
        await Task.Yield();
        while (true)
        {
            RelayedConnection? connection;
            try
            {
                connection = await listener.AcceptAsync(_shutdown.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                break;
            }

            if (connection is null)
            {
                break;
            }

            Track(UpgradeInboundRelayedAsync(connection));
        }

        Log.RelayListenerStopped(_logger, listener.Relay);
    }

    private async Task UpgradeInboundRelayedAsync(RelayedConnection connection)
    {
        await Task.Yield();
        try
        {
            await UpgradeRelayedAsync(connection, _shutdown.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or InvalidDataException or OperationCanceledException or TimeoutException)
        {
            // Logged by UpgradeAsync.
        }
    }

    /// <summary>
    /// multistream-select /noise, the Noise XX handshake, then Yamux (inlined in the Noise extensions when
    /// both sides announced it, else multistream-select /yamux/1.0.0). Every step runs under the handshake
    /// deadline; on failure the raw connection is aborted.
    /// </summary>
    private async Task<HostConnection> UpgradeAsync(
        IDuplexPipe raw,
        IAsyncDisposable rawOwner,
        Action abortRaw,
        bool initiator,
        PeerId? expected,
        Multiaddr remote,
        Multiaddr? local,
        bool relayed,
        RelayLimit? limit,
        CancellationToken cancellationToken)
    {
        using var deadline = new CancellationTokenSource(_options.HandshakeTimeout, _time);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _shutdown.Token, deadline.Token);
        NoiseSession? noise = null;
        try
        {
            if (initiator)
            {
                await MultistreamSelect.SelectOneAsync(raw, [NoiseHandshake.ProtocolId], timeout.Token).ConfigureAwait(false);
                noise = await NoiseHandshake.InitiateAsync(raw, Identity, SignatureVerifier, expected, [YamuxProtocol], _curve, timeout.Token).ConfigureAwait(false);
            }
            else
            {
                await MultistreamSelect.HandleAsync(raw, p => p == NoiseHandshake.ProtocolId, timeout.Token).ConfigureAwait(false);
                noise = await NoiseHandshake.RespondAsync(raw, Identity, SignatureVerifier, [YamuxProtocol], _curve, timeout.Token).ConfigureAwait(false);
            }

            // Inlined muxer negotiation: both sides sent their lists, so both know the outcome.
            if (!noise.RemoteMuxers.Contains(YamuxProtocol))
            {
                if (initiator)
                {
                    await MultistreamSelect.SelectOneAsync(noise, [YamuxProtocol], timeout.Token).ConfigureAwait(false);
                }
                else
                {
                    await MultistreamSelect.HandleAsync(noise, p => p == YamuxProtocol, timeout.Token).ConfigureAwait(false);
                }
            }
        }
        catch (Exception ex)
        {
            if (noise is not null)
            {
                await noise.DisposeAsync().ConfigureAwait(false);
            }

            abortRaw();
            await rawOwner.DisposeAsync().ConfigureAwait(false);
            string reason = ex is OperationCanceledException && !cancellationToken.IsCancellationRequested ? "timed out" : ex.Message;
            Log.HandshakeFailed(_logger, remote, reason);
            if (ex is OperationCanceledException && !cancellationToken.IsCancellationRequested)
            {
                throw new TimeoutException($"The handshake with {remote} timed out.", ex);
            }

            throw;
        }

        var muxer = new YamuxSession(noise, isClient: initiator, _loggerFactory.CreateLogger<YamuxSession>(), new YamuxOptions
        {
            TimeProvider = _time,
            KeepAliveInterval = _options.KeepAliveInterval,
            InitialStreamWindowSize = _options.StreamReceiveWindow,
            MaxStreamWindowSize = _options.MaxStreamReceiveWindow,
        });
        string id = "c" + Interlocked.Increment(ref _nextConnectionId).ToString(CultureInfo.InvariantCulture);
        var info = new ConnectionInfo(id, noise.RemotePeer, remote, initiator ? ConnectionDirection.Outbound : ConnectionDirection.Inbound)
        {
            LocalAddress = local,
            IsRelayed = relayed,
            Limit = limit,
        };
        var connection = new HostConnection(info, rawOwner, abortRaw, noise, muxer);
        lock (_lock)
        {
            _connections.Add(connection);
        }

        Log.ConnectionEstablished(_logger, id, info.Direction, info.RemotePeer, remote, relayed);
        Track(ServeConnectionAsync(connection));
        ConnectionOpened?.Invoke(this, new ConnectionEventArgs(info));
        return connection;
    }

    /// <summary>Accepts the connection's inbound streams until it ends, then forgets it.</summary>
    private async Task ServeConnectionAsync(HostConnection connection)
    {
        await Task.Yield();
        try
        {
            while (await connection.Muxer.AcceptStreamAsync(_shutdown.Token).ConfigureAwait(false) is { } stream)
            {
                Track(NegotiateInboundAsync(connection, stream));
            }
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException or InvalidDataException)
        {
            // The session ended.
        }
        finally
        {
            lock (_lock)
            {
                _connections.Remove(connection);
            }

            await connection.CloseAsync().ConfigureAwait(false);
            if (connection.Info.Direction == ConnectionDirection.Inbound && !connection.Info.IsRelayed)
            {
                Interlocked.Decrement(ref _inboundConnections);
            }

            Log.ConnectionClosed(_logger, connection.Info.Id, connection.Info.RemotePeer);
            ConnectionClosed?.Invoke(this, new ConnectionEventArgs(connection.Info));
        }
    }

    private async Task NegotiateInboundAsync(HostConnection connection, YamuxStream stream)
    {
        await Task.Yield();
        string protocol;
        try
        {
            using var deadline = new CancellationTokenSource(_options.StreamNegotiationTimeout, _time);
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(_shutdown.Token, deadline.Token);
            protocol = await MultistreamSelect.HandleAsync(stream, p => IsServed(p, connection.Info), timeout.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or InvalidDataException or OperationCanceledException)
        {
            Log.StreamRefused(_logger, connection.Info.Id, ex.Message);
            stream.Abort();
            return;
        }

        if (!_handlers.TryGetValue(protocol, out var registration))
        {
            stream.Abort();
            return;
        }

        var wrapped = new YamuxLibp2pStream(stream, protocol, connection.Info);
        try
        {
            await registration.Handler(wrapped, _shutdown.Token).ConfigureAwait(false);
        }
#pragma warning disable CA1031 // A handler's failure must never take the host down.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            Log.HandlerFailed(_logger, protocol, ex);
            wrapped.Abort();
        }
    }

    private bool IsServed(string protocol, ConnectionInfo connection)
        => _handlers.TryGetValue(protocol, out var registration) && (!connection.IsLimited || registration.Options.AllowLimitedConnection);

    private HostConnection? FindConnection(PeerId peer, bool allowLimited)
    {
        lock (_lock)
        {
            HostConnection? best = null;
            foreach (HostConnection connection in _connections)
            {
                if (connection.Info.RemotePeer != peer || (connection.Info.IsLimited && !allowLimited))
                {
                    continue;
                }

                if (best is null || (best.Info.IsRelayed && !connection.Info.IsRelayed))
                {
                    best = connection;
                }
            }

            return best;
        }
    }

    private async Task<HostConnection> DialAnyAsync(PeerId peer, OpenStreamOptions options, CancellationToken cancellationToken)
    {
        if (options.DialAddresses.Count == 0)
        {
            throw new IOException($"No connection to {peer} and no address to dial it.");
        }

        var errors = new List<Exception>();
        foreach (Multiaddr address in options.DialAddresses.OrderBy(a => a.IsRelayed))
        {
            try
            {
                Multiaddr full = address.IsRelayed ? address : address.WithoutPeerId().WithPeerId(peer);
                await ConnectAsync(full, cancellationToken).ConfigureAwait(false);
                if (FindConnection(peer, options.AllowLimitedConnection) is { } connection)
                {
                    return connection;
                }
            }
            catch (Exception ex) when (ex is IOException or TimeoutException or InvalidDataException or ArgumentException or InvalidOperationException)
            {
                errors.Add(ex);
            }
        }

        throw new IOException($"Cannot reach {peer}: {string.Join("; ", errors.Select(e => e.Message))}", errors.FirstOrDefault());
    }

    private static async Task<IPEndPoint> ResolveAsync(Multiaddr address, CancellationToken cancellationToken)
    {
        MultiaddrComponent? name = address.Components.FirstOrDefault(c => c.Name is "dns" or "dns4" or "dns6");
        MultiaddrComponent? tcp = address.Components.FirstOrDefault(c => c.Name == "tcp");
        if (name?.Value is null || tcp?.Value is null)
        {
            throw new IOException($"Cannot dial '{address}': only /ip4, /ip6 and /dns* with /tcp are supported.");
        }

        IPAddress[] addresses = await Dns.GetHostAddressesAsync(name.Value, cancellationToken).ConfigureAwait(false);
        IPAddress? chosen = name.Name switch
        {
            "dns4" => addresses.FirstOrDefault(a => a.AddressFamily == AddressFamily.InterNetwork),
            "dns6" => addresses.FirstOrDefault(a => a.AddressFamily == AddressFamily.InterNetworkV6),
            _ => addresses.FirstOrDefault(a => a.AddressFamily == AddressFamily.InterNetworkV6) ?? addresses.FirstOrDefault(),
        };
        return chosen is null
            ? throw new IOException($"'{name.Value}' did not resolve.")
            : new IPEndPoint(chosen, int.Parse(tcp.Value, CultureInfo.InvariantCulture));
    }

    private void Track(Task task)
    {
        lock (_lock)
        {
            if (task.IsCompleted)
            {
                return;
            }

            _background.Add(task);
        }

        _ = task.ContinueWith(
            static (t, state) =>
            {
                var self = (Libp2pHost)state!;
                lock (self._lock)
                {
                    self._background.Remove(t);
                }
            },
            this,
            CancellationToken.None,
            TaskContinuationOptions.ExecuteSynchronously,
            TaskScheduler.Default);
    }
}
