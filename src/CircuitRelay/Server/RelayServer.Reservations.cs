using System.Net;
using CircuitRelay.Crypto;
using ReservationVoucher = CircuitRelay.Crypto.ReservationVoucher;
using CircuitRelay.Diagnostics;
using CircuitRelay.Abstractions;

namespace CircuitRelay.Server;

public sealed partial class RelayServer
{
    private readonly Dictionary<PeerId, ReservationEntry> _reservations = [];

    private sealed class ReservationEntry(PeerId peer, string? ip, uint? asn, ITimer timer)
    {
        public PeerId Peer { get; } = peer;

        public string? Ip { get; } = ip;

        public uint? Asn { get; } = asn;

        public ITimer Timer { get; } = timer;

        public DateTimeOffset Expiry { get; set; }
    }

    /// <summary>The reservation policy: access control, rate limits and caps, then the answer through <paramref name="request"/>.</summary>
    private async Task HandleReserveAsync(ReservationRequest request, RelayServerOptions options)
    {
        ConnectionInfo connection = request.Connection;
        PeerId peer = request.Peer;

        if (connection.IsRelayed || connection.RemoteAddress.IsRelayed)
        {
            await RefuseReservationAsync(request, RelayStatus.PermissionDenied, "reservation over a relayed connection").ConfigureAwait(false);
            return;
        }

        if (!AcceptingReservations)
        {
            // Not serving as a relay now (the node is not public): circuits of existing reservations go on until they
            // expire, but none is granted or renewed, so holders move to other relays.
            await RefuseReservationAsync(request, RelayStatus.ReservationRefused, "not serving as a relay now").ConfigureAwait(false);
            return;
        }

        if (options.AllowReservation is { } allow && !allow(peer, connection.RemoteAddress))
        {
            await RefuseReservationAsync(request, RelayStatus.PermissionDenied, "refused by the access-control hook").ConfigureAwait(false);
            return;
        }

        IPAddress? ip = connection.RemoteAddress.TryGetIPAddress(out IPAddress? address) ? address : null;
        string? ipKey = ip?.ToString();
        if (!_reservePeerLimiter.TryAcquire(peer, options.ReservationRateLimitPerPeer.Permits, options.ReservationRateLimitPerPeer.Period)
            || (ipKey is not null && !_reserveIpLimiter.TryAcquire(ipKey, options.ReservationRateLimitPerIp.Permits, options.ReservationRateLimitPerIp.Period)))
        {
            await RefuseReservationAsync(request, RelayStatus.ResourceLimitExceeded, "rate limited").ConfigureAwait(false);
            return;
        }

        RelayLoadLevel level = EvaluateLoad(options);
        if (level == RelayLoadLevel.Refusing && !HasReservation(peer))
        {
            await RefuseReservationAsync(request, RelayStatus.ResourceLimitExceeded, "relay under load").ConfigureAwait(false);
            return;
        }

        uint? asn = ip is not null ? options.AsnResolver?.Invoke(ip) : null;
        TimeSpan ttl = level == RelayLoadLevel.Tight ? TimeSpan.FromSeconds(Math.Max(1, Math.Floor(options.ReservationTtl.TotalSeconds * options.LoadTightFactor))) : options.ReservationTtl;
        DateTimeOffset expiry = DateTimeOffset.FromUnixTimeSeconds((_time.GetUtcNow() + ttl).ToUnixTimeSeconds());
        bool renewed;
        string? refusal = null;
        lock (_lock)
        {
            renewed = _reservations.TryGetValue(peer, out ReservationEntry? entry);
            if (!renewed)
            {
                if (_reservations.Count >= options.MaxReservations)
                {
                    refusal = "too many reservations";
                }
                else if (ipKey is not null && _reservations.Values.Count(r => r.Ip == ipKey) >= options.MaxReservationsPerIp)
                {
                    refusal = "too many reservations from this IP address";
                }
                else if (asn is not null && _reservations.Values.Count(r => r.Asn == asn) >= options.MaxReservationsPerAsn)
                {
                    refusal = "too many reservations from this autonomous system";
                }
                else
                {
                    ITimer timer = _time.CreateTimer(static state => ((ExpiryState)state!).Fire(), new ExpiryState(this, peer), Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
                    entry = new ReservationEntry(peer, ipKey, asn, timer);
                    _reservations[peer] = entry;
                    _metrics.ActiveReservations.Add(1);
                    _connectionManager?.Protect(peer, ReservationProtectionTag);
                }
            }

            if (entry is not null)
            {
                entry.Expiry = expiry;
                entry.Timer.Change(Max(TimeSpan.Zero, expiry - _time.GetUtcNow()), Timeout.InfiniteTimeSpan);
            }
        }

        if (refusal is not null)
        {
            await RefuseReservationAsync(request, RelayStatus.ReservationRefused, refusal).ConfigureAwait(false);
            return;
        }

        PeerId self = _host.Identity.PeerId;
        byte[] voucher = new ReservationVoucher(self, peer, expiry).Seal(_host.Identity);
        if (!await request.AcceptAsync(expiry, PublicAddresses(self, options), voucher, options.GetCircuitLimit(level)).ConfigureAwait(false))
        {
            // The peer never learnt about it: take the reservation back (go does the same).
            if (!renewed)
            {
                RemoveReservation(peer, ReservationEventKind.Disconnected, expectedExpiry: null);
            }

            return;
        }

        if (renewed)
        {
            Interlocked.Increment(ref _reservationsRenewed);
        }
        else
        {
            Interlocked.Increment(ref _reservationsAccepted);
        }

        _metrics.Reservations.Add(1, new KeyValuePair<string, object?>("outcome", renewed ? "renewed" : "accepted"));
        RelayLog.ReservationAccepted(_logger, peer, renewed ? "renewed" : "accepted", expiry);
        Raise(ReservationChanged, new RelayReservationEventArgs(peer, renewed ? ReservationEventKind.Renewed : ReservationEventKind.Accepted, RelayStatus.Ok, expiry));
    }

    /// <summary>The addresses a reservation names: the host's public ones (not relayed, passing the filter), each ending in <c>/p2p/&lt;self&gt;</c>.</summary>
    private IEnumerable<Multiaddr> PublicAddresses(PeerId self, RelayServerOptions options)
    {
        foreach (Multiaddr address in _host.Addresses)
        {
            if (address.IsRelayed || (options.AddressFilter is { } filter && !filter(address)))
            {
                continue;
            }

            yield return address.WithoutPeerId().WithPeerId(self);
        }
    }

    private async Task RefuseReservationAsync(ReservationRequest request, RelayStatus status, string reason)
    {
        PeerId peer = request.Peer;
        Interlocked.Increment(ref _reservationsRefused);
        _metrics.Reservations.Add(1, new KeyValuePair<string, object?>("outcome", "refused"), RelayMetrics.StatusTag(status));
        RelayLog.ReservationRefused(_logger, peer, status, reason);
        await request.DenyAsync(status).ConfigureAwait(false);
        Raise(ReservationChanged, new RelayReservationEventArgs(peer, ReservationEventKind.Refused, status, null));
    }

    private void RemoveReservation(PeerId peer, ReservationEventKind kind, DateTimeOffset? expectedExpiry)
    {
        DateTimeOffset expiry;
        lock (_lock)
        {
            if (!_reservations.TryGetValue(peer, out ReservationEntry? entry)
                || (expectedExpiry is { } expected && entry.Expiry > expected))
            {
                return;
            }

            _reservations.Remove(peer);
            _connectionManager?.Unprotect(peer, ReservationProtectionTag);
            entry.Timer.Dispose();
            expiry = entry.Expiry;
            _metrics.ActiveReservations.Add(-1);
        }

        if (kind == ReservationEventKind.Expired)
        {
            Interlocked.Increment(ref _reservationsExpired);
        }

        string reason = kind == ReservationEventKind.Expired ? "expired" : "disconnected";
        _metrics.ReservationsEnded.Add(1, new KeyValuePair<string, object?>("reason", reason));
        RelayLog.ReservationEnded(_logger, peer, reason);
        Raise(ReservationChanged, new RelayReservationEventArgs(peer, kind, RelayStatus.Ok, expiry));
    }

    private void OnConnectionClosed(object? sender, ConnectionEventArgs e)
    {
        PeerId peer = e.Connection.RemotePeer;
        if (_host.GetConnections(peer).Any(c => !c.IsRelayed))
        {
            return;
        }

        // A reservation lives only as long as the peer's connection to the relay.
        RemoveReservation(peer, ReservationEventKind.Disconnected, expectedExpiry: null);
    }

    private static TimeSpan Max(TimeSpan a, TimeSpan b) => a > b ? a : b;

    private sealed class ExpiryState(RelayServer server, PeerId peer)
    {
        public void Fire()
        {
            DateTimeOffset now = server._time.GetUtcNow();
            server.RemoveReservation(peer, ReservationEventKind.Expired, expectedExpiry: now);
        }
    }
}
