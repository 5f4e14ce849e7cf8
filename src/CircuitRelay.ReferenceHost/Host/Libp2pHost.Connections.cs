using System.Globalization;
using CircuitRelay.Abstractions;
using CircuitRelay.ReferenceHost.Multistream;
using CircuitRelay.ReferenceHost.Noise;
using CircuitRelay.ReferenceHost.Plaintext;
using CircuitRelay.ReferenceHost.Yamux;
using Microsoft.Extensions.Logging;

namespace CircuitRelay.ReferenceHost;

public sealed partial class Libp2pHost
{
    /// <inheritdoc />
    public IReadOnlyList<ConnectionInfo> Connections
    {
        get
        {
            lock (_lock)
            {
                return [.. _connections.Select(c => c.Info)];
            }
        }
    }

    /// <inheritdoc />
    /// <remarks>Returns once the host has forgotten the connection: <see cref="ConnectionInfo.Closed"/> has fired and <see cref="ConnectionClosed"/> was raised.</remarks>
    public async ValueTask CloseAsync(ConnectionInfo connection, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(connection);
        HostConnection? found = Find(connection);
        if (found is null)
        {
            return;
        }

        await found.CloseAsync().ConfigureAwait(false);
        if (found.Served is { } served)
        {
            await served.WaitAsync(cancellationToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            cancellationToken.ThrowIfCancellationRequested();
        }
    }

    /// <summary>
    /// Upgrades a connection a listener accepted. Its place under <see cref="Libp2pHostOptions.MaxInboundConnections"/>
    /// (when it holds one) is given back here when the upgrade fails, else by <see cref="ServeConnectionAsync"/>.
    /// </summary>
    private async Task HandleAcceptedAsync(ITransportConnection raw, bool countsInbound)
    {
        await Task.Yield();
        bool established = false;
        try
        {
            // A transport that yields a simultaneous open marks the accepted side outbound: it initiates as a dialer does.
            UpgradeRole role = raw.Direction == ConnectionDirection.Outbound ? UpgradeRole.Initiator : UpgradeRole.Responder;
            await UpgradeAsync(raw, role, raw.ClaimedRemotePeer, accepted: true, countsInbound, _shutdown.Token).ConfigureAwait(false);
            established = true;
        }
        catch (Exception ex) when (ex is IOException or InvalidDataException or OperationCanceledException or TimeoutException)
        {
            // UpgradeAsync logged and released everything.
        }
        finally
        {
            if (!established && countsInbound)
            {
                Interlocked.Decrement(ref _inboundConnections);
                ReleaseInboundAddress(raw.RemoteAddress);
            }
        }
    }

    /// <summary>
    /// multistream-select /noise, the Noise XX handshake, then Yamux (inlined in the Noise extensions when
    /// both sides announced it, else multistream-select /yamux/1.0.0). <paramref name="role"/> decides who proposes,
    /// who initiates Noise and who is the Yamux client. The remote must authenticate as <paramref name="expected"/>
    /// when given (the dialed peer, or the peer a relay named). An accepted connection is then put to the
    /// <see cref="InboundStage.Secured"/> gates. Every step runs under the handshake deadline; on failure the raw
    /// connection is aborted.
    /// </summary>
    private async Task<HostConnection> UpgradeAsync(ITransportConnection raw, UpgradeRole role, PeerId? expected, bool accepted, bool countsInbound, CancellationToken cancellationToken)
    {
        bool initiator = role == UpgradeRole.Initiator;
        Multiaddr remote = raw.RemoteAddress;
        using var deadline = new CancellationTokenSource(_options.HandshakeTimeout, _time);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _shutdown.Token, deadline.Token);
        SecuredChannel? secured = null;
        try
        {
            secured = _options.Security == SecurityProtocol.Plaintext
                ? await SecurePlaintextAsync(raw, initiator, expected, timeout.Token).ConfigureAwait(false)
                : await SecureNoiseAsync(raw, initiator, expected, timeout.Token).ConfigureAwait(false);
            if (expected is not null && secured.RemotePeer != expected)
            {
                // On an inbound circuit: the relay named one peer, the handshake authenticated another (circuit-v2.md recommends the check).
                throw accepted && raw.Relay is not null
                    ? new IOException($"The relayed peer authenticated as {secured.RemotePeer}, not {expected} as the relay said.")
                    : new NoisePeerMismatchException(expected, secured.RemotePeer);
            }

            // Inlined muxer negotiation (Noise extensions): both sides sent their lists, so both know the outcome.
            if (!secured.RemoteMuxers.Contains(YamuxProtocol))
            {
                if (initiator)
                {
                    await MultistreamSelect.SelectOneAsync(secured.Pipe, [YamuxProtocol], timeout.Token).ConfigureAwait(false);
                }
                else
                {
                    await MultistreamSelect.HandleAsync(secured.Pipe, p => p == YamuxProtocol, timeout.Token).ConfigureAwait(false);
                }
            }
        }
        catch (Exception ex)
        {
            if (secured?.Owner is { } owner)
            {
                await owner.DisposeAsync().ConfigureAwait(false);
            }

            raw.Abort();
            await raw.DisposeAsync().ConfigureAwait(false);
            bool timedOut = ex is OperationCanceledException && !cancellationToken.IsCancellationRequested;
            Log.HandshakeFailed(_logger, remote, timedOut ? "timed out" : ex.Message);
            if (timedOut)
            {
                throw new TimeoutException($"The handshake with {remote} timed out.", ex);
            }

            throw;
        }

        string id = "c" + Interlocked.Increment(ref _nextConnectionId).ToString(CultureInfo.InvariantCulture);
        var closed = new CancellationTokenSource();
        var info = new ConnectionInfo(id, secured.RemotePeer, remote, raw.Direction)
        {
            LocalAddress = raw.LocalAddress,
            IsRelayed = raw.Relay is not null,
            Relay = raw.Relay,
            Limit = raw.Limit,
            Closed = closed.Token,
        };
        if (accepted)
        {
            InboundDecision decision = Check(new InboundAttempt(InboundStage.Secured, remote) { RemotePeer = info.RemotePeer, Relay = raw.Relay, Connection = info });
            if (!decision.IsAllowed)
            {
                Log.SecuredConnectionRefusedByGate(_logger, info.RemotePeer, remote, decision.Reason ?? "denied");
                if (secured.Owner is not null)
                {
                    await secured.Owner.DisposeAsync().ConfigureAwait(false);
                }

                await raw.DisposeAsync().ConfigureAwait(false);
                closed.Cancel();
                throw new IOException($"The connection from {info.RemotePeer} was refused by an inbound gate: {decision.Reason}");
            }
        }

        var muxer = new YamuxSession(secured.Pipe, isClient: initiator, _loggerFactory.CreateLogger<YamuxSession>(), new YamuxOptions
        {
            TimeProvider = _time,
            KeepAliveInterval = _options.KeepAliveInterval,
            InitialStreamWindowSize = _options.StreamReceiveWindow,
            MaxStreamWindowSize = _options.MaxStreamReceiveWindow,
        });
        var connection = new HostConnection(info, raw, secured.Owner, muxer, closed, countsInbound, _time);
        lock (_lock)
        {
            _connections.Add(connection);
        }

        Log.ConnectionEstablished(_logger, id, info.Direction, info.RemotePeer, remote, info.IsRelayed);
        Task served = ServeConnectionAsync(connection);
        connection.Served = served;
        Track(served);
        ConnectionOpened?.Invoke(this, new ConnectionEventArgs(info));
        return connection;
    }

    /// <summary>multistream-select <c>/noise</c>, then the Noise XX handshake (with the muxer list in its extensions).</summary>
    private async Task<SecuredChannel> SecureNoiseAsync(ITransportConnection raw, bool initiator, PeerId? expected, CancellationToken cancellationToken)
    {
        NoiseSession noise;
        if (initiator)
        {
            await MultistreamSelect.SelectOneAsync(raw, [NoiseHandshake.ProtocolId], cancellationToken).ConfigureAwait(false);
            noise = await NoiseHandshake.InitiateAsync(raw, Identity, SignatureVerifier, expected, [YamuxProtocol], _curve, cancellationToken).ConfigureAwait(false);
        }
        else
        {
            await MultistreamSelect.HandleAsync(raw, p => p == NoiseHandshake.ProtocolId, cancellationToken).ConfigureAwait(false);
            noise = await NoiseHandshake.RespondAsync(raw, Identity, SignatureVerifier, [YamuxProtocol], _curve, cancellationToken).ConfigureAwait(false);
        }

        // Over a circuit, a closing connection waits for the peer's half-close (NoiseSession.InputEnded) so the relay
        // sees both halves close in order: the session keeps reading (and dropping) after the muxer stops.
        noise.DrainInputAfterCompletion = raw.Relay is not null;
        return new SecuredChannel(noise, noise, noise.RemotePeer, noise.RemoteMuxers);
    }

    /// <summary>
    /// multistream-select <c>/plaintext/2.0.0</c>, then the exchange of public keys (peer id checked). No encryption:
    /// an option for fast tests over the memory transport, never for a real network.
    /// </summary>
    private async Task<SecuredChannel> SecurePlaintextAsync(ITransportConnection raw, bool initiator, PeerId? expected, CancellationToken cancellationToken)
    {
        if (initiator)
        {
            await MultistreamSelect.SelectOneAsync(raw, [PlaintextHandshake.ProtocolId], cancellationToken).ConfigureAwait(false);
        }
        else
        {
            await MultistreamSelect.HandleAsync(raw, p => p == PlaintextHandshake.ProtocolId, cancellationToken).ConfigureAwait(false);
        }

        PlaintextResult result = await PlaintextHandshake.ExchangeAsync(raw, Identity, initiator ? expected : null, cancellationToken).ConfigureAwait(false);
        return new SecuredChannel(raw, null, result.RemotePeer, []);
    }

    /// <summary>What a security handshake yields: the pipe the muxer runs on, who owns it, the authenticated peer, the muxers it announced.</summary>
    private sealed record SecuredChannel(System.IO.Pipelines.IDuplexPipe Pipe, IAsyncDisposable? Owner, PeerId RemotePeer, IReadOnlyList<string> RemoteMuxers);

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
            bool lastToPeer;
            lock (_lock)
            {
                _connections.Remove(connection);
                lastToPeer = !_connections.Any(c => c.Info.RemotePeer == connection.Info.RemotePeer);
            }

            await connection.CloseAsync().ConfigureAwait(false);
            if (connection.CountsInbound)
            {
                Interlocked.Decrement(ref _inboundConnections);
                ReleaseInboundAddress(connection.Info.RemoteAddress);
            }

            if (lastToPeer)
            {
                ForgetObservedReport(connection.Info.RemotePeer);
                _peers.TryRemove(connection.Info.RemotePeer, out _);
            }

            Log.ConnectionClosed(_logger, connection.Info.Id, connection.Info.RemotePeer);
            connection.SignalClosed();
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

        ConnectionInfo info = connection.Info;
        InboundDecision decision = Volatile.Read(ref _gates).Length == 0
            ? InboundDecision.Allow // no gate: no attempt to build for every stream
            : Check(new InboundAttempt(InboundStage.Stream, info.RemoteAddress) { RemotePeer = info.RemotePeer, Relay = info.Relay, Protocol = protocol, Connection = info });
        if (!decision.IsAllowed)
        {
            Log.StreamRefusedByGate(_logger, protocol, info.RemotePeer, info.Id, decision.Reason ?? "denied");
            stream.Abort();
            return;
        }

        var wrapped = new YamuxLibp2pStream(stream, protocol, info);
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

    /// <summary>The live connection <paramref name="connection"/> describes (the same object, or one with its id).</summary>
    private HostConnection? Find(ConnectionInfo connection)
    {
        lock (_lock)
        {
            return _connections.FirstOrDefault(c => ReferenceEquals(c.Info, connection)) ?? _connections.FirstOrDefault(c => c.Info.Id == connection.Id);
        }
    }

    private async Task<HostConnection> DialAnyAsync(PeerId peer, OpenStreamOptions options, CancellationToken cancellationToken)
    {
        // The caller's addresses first; without any, what the peer store knows (Identify's listen addresses).
        IReadOnlyList<Multiaddr> addresses = options.DialAddresses.Count > 0 ? options.DialAddresses : GetPeer(peer)?.ListenAddresses ?? [];
        if (addresses.Count == 0)
        {
            throw new IOException($"No connection to {peer} and no address to dial it.");
        }

        var errors = new List<Exception>();
        foreach (Multiaddr address in addresses.OrderBy(a => a.IsRelayed))
        {
            try
            {
                Multiaddr full = address.IsRelayed ? address : address.WithoutPeerId().WithPeerId(peer);
                await DialAsync(full, options: null, cancellationToken).ConfigureAwait(false);
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

    /// <summary>Tracks a background task so disposal waits for it (the shared TaskTracker; the host never closes it early).</summary>
    private void Track(Task task) => _background.TryTrack(task);
}
