using System.Net;
using System.Net.Sockets;
using CircuitRelay.Abstractions;

namespace CircuitRelay.ReferenceHost;

/// <content>
/// Inbound limits per address and subnet, idle inbound connections closed and trimmed, and protected peers
/// (<see cref="IConnectionManagerFeature"/>).
/// </content>
public sealed partial class Libp2pHost : IConnectionManagerFeature
{
    private readonly Dictionary<string, int> _inboundByAddress = new(StringComparer.Ordinal);
    private readonly Dictionary<PeerId, HashSet<string>> _protected = [];
    private ITimer? _idleSweep;

    /// <inheritdoc />
    public void Protect(PeerId peer, string tag)
    {
        ArgumentNullException.ThrowIfNull(peer);
        ArgumentException.ThrowIfNullOrEmpty(tag);
        lock (_protected)
        {
            if (!_protected.TryGetValue(peer, out HashSet<string>? tags))
            {
                _protected[peer] = tags = new HashSet<string>(StringComparer.Ordinal);
            }

            tags.Add(tag);
        }
    }

    /// <inheritdoc />
    public bool Unprotect(PeerId peer, string tag)
    {
        ArgumentNullException.ThrowIfNull(peer);
        ArgumentException.ThrowIfNullOrEmpty(tag);
        lock (_protected)
        {
            if (!_protected.TryGetValue(peer, out HashSet<string>? tags))
            {
                return false;
            }

            tags.Remove(tag);
            if (tags.Count == 0)
            {
                _protected.Remove(peer);
                return false;
            }

            return true;
        }
    }

    /// <inheritdoc />
    public bool IsProtected(PeerId peer)
    {
        ArgumentNullException.ThrowIfNull(peer);
        lock (_protected)
        {
            return _protected.ContainsKey(peer);
        }
    }

    /// <summary>The per-address and per-subnet keys of a remote address (none for a non-IP or relayed address, or when both caps are off).</summary>
    private string[] InboundKeys(Multiaddr remote)
    {
        if ((_options.MaxInboundConnectionsPerIp == 0 && _options.MaxInboundConnectionsPerSubnet == 0) || !remote.TryGetIPEndPoint(out IPEndPoint? endPoint))
        {
            return [];
        }

        IPAddress ip = Internal.Subnet.Unmapped(endPoint.Address);
        return [Internal.Subnet.Of(ip, 32, 128), Internal.Subnet.Of(ip, 24, 56)];
    }

    /// <summary>Takes a place for <paramref name="remote"/> under the per-address and per-subnet caps; false (and nothing taken) when one is full.</summary>
    private bool TryAcquireInboundAddress(Multiaddr remote, out string? refusal)
    {
        refusal = null;
        string[] keys = InboundKeys(remote);
        if (keys.Length == 0)
        {
            return true;
        }

        lock (_inboundByAddress)
        {
            int perIp = _inboundByAddress.GetValueOrDefault(keys[0]);
            int perSubnet = _inboundByAddress.GetValueOrDefault(keys[1]);
            if (_options.MaxInboundConnectionsPerIp > 0 && perIp >= _options.MaxInboundConnectionsPerIp)
            {
                refusal = $"{perIp} inbound connections from this IP address already (MaxInboundConnectionsPerIp)";
                return false;
            }

            if (_options.MaxInboundConnectionsPerSubnet > 0 && perSubnet >= _options.MaxInboundConnectionsPerSubnet)
            {
                refusal = $"{perSubnet} inbound connections from this subnet already (MaxInboundConnectionsPerSubnet: IPv4 /24, IPv6 /56)";
                return false;
            }

            _inboundByAddress[keys[0]] = perIp + 1;
            _inboundByAddress[keys[1]] = perSubnet + 1;
            return true;
        }
    }

    /// <summary>Gives back what <see cref="TryAcquireInboundAddress"/> took for <paramref name="remote"/>.</summary>
    private void ReleaseInboundAddress(Multiaddr remote)
    {
        string[] keys = InboundKeys(remote);
        lock (_inboundByAddress)
        {
            foreach (string key in keys)
            {
                int left = _inboundByAddress.GetValueOrDefault(key) - 1;
                if (left <= 0)
                {
                    _inboundByAddress.Remove(key);
                }
                else
                {
                    _inboundByAddress[key] = left;
                }
            }
        }
    }

    /// <summary>
    /// At the global cap: closes the established inbound connection that has been idle longest (no stream, its peer not
    /// protected), so an idle connection gives way to a new one instead of keeping it out. False when none is idle.
    /// </summary>
    private bool TrimOneIdleInbound()
    {
        HostConnection? victim;
        lock (_lock)
        {
            victim = _connections
                .Where(IsIdleCandidate)
                .OrderBy(c => c.IdleSince ?? DateTimeOffset.MaxValue)
                .FirstOrDefault();
        }

        if (victim is null)
        {
            return false;
        }

        Log.IdleConnectionTrimmed(_logger, victim.Info.Id, victim.Info.RemotePeer, victim.Info.RemoteAddress, _options.MaxInboundConnections);
        Track(victim.CloseAsync().AsTask());
        return true;
    }

    /// <summary>Starts the periodic idle sweep when <see cref="Libp2pHostOptions.InboundIdleTimeout"/> is set.</summary>
    private void StartIdleSweep()
    {
        if (_options.InboundIdleTimeout is not { } timeout)
        {
            return;
        }

        TimeSpan period = timeout / 4 < TimeSpan.FromSeconds(5) ? timeout / 4 : TimeSpan.FromSeconds(5);
        _idleSweep = _time.CreateTimer(static state => ((Libp2pHost)state!).SweepIdle(), this, period, period);
    }

    /// <summary>Closes the inbound connections that carried no stream for <see cref="Libp2pHostOptions.InboundIdleTimeout"/> (protected peers apart).</summary>
    private void SweepIdle()
    {
        if (Volatile.Read(ref _disposed) != 0 || _options.InboundIdleTimeout is not { } timeout)
        {
            return;
        }

        DateTimeOffset now = _time.GetUtcNow();
        List<HostConnection> idle = [];
        lock (_lock)
        {
            foreach (HostConnection connection in _connections)
            {
                if (!connection.CountsInbound || connection.Muxer.StreamCount > 0)
                {
                    connection.IdleSince = null;
                    continue;
                }

                connection.IdleSince ??= now;
                if (now - connection.IdleSince >= timeout && !IsProtected(connection.Info.RemotePeer))
                {
                    idle.Add(connection);
                }
            }
        }

        foreach (HostConnection connection in idle)
        {
            Log.IdleConnectionClosed(_logger, connection.Info.Id, connection.Info.RemotePeer, connection.Info.RemoteAddress, (long)timeout.TotalSeconds);
            Track(connection.CloseAsync().AsTask());
        }
    }

    private bool IsIdleCandidate(HostConnection connection)
        => connection.CountsInbound && connection.Muxer.StreamCount == 0 && !connection.IsClosing && !IsProtected(connection.Info.RemotePeer);
}
