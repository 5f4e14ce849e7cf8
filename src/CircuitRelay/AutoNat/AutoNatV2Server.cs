using System.Diagnostics.Metrics;
using System.Net;
using CircuitRelay.Abstractions;
using CircuitRelay.AutoRelay;
using CircuitRelay.Diagnostics;
using CircuitRelay.Internal;
using CircuitRelay.Multiformats;
using Google.Protobuf;
using Microsoft.Extensions.Logging;
using PbV2 = CircuitRelay.AutoNat.PbV2;

namespace CircuitRelay.AutoNat;

/// <summary>
/// The AutoNAT v2 server (<see cref="DialRequestProtocol"/>): tests one address per request. It takes the first
/// requested address it is willing to dial (direct, an IP family it has, public unless
/// <see cref="AutoNatV2ServerOptions.AllowPrivate"/>), asks for 30,000–100,000 bytes of dial data first when that
/// address is not on the requester's observed IP (amplification protection), dials it on a new connection from an
/// ephemeral port (never its listen port, so no accidental hole punch), sends the requester's nonce on a
/// <see cref="AutoNatV2Client.DialBackProtocol"/> stream over that connection, and answers with the outcome.
/// Rate limits per peer, in all and for dial-data requests (per minute), and a cap on a peer's concurrent requests.
/// Requests over relayed connections are rejected.
/// </summary>
/// <remarks>Needs the host's <see cref="IDialFeature"/> and <see cref="IConnectionsFeature"/>.</remarks>
public sealed class AutoNatV2Server : IAsyncDisposable
{
    /// <summary>The AutoNAT v2 dial-request protocol id.</summary>
    public const string DialRequestProtocol = "/libp2p/autonat/2/dial-request";

    /// <summary>The largest message on the dial-request stream, length prefix excluded (go's limit).</summary>
    public const int MaxMessageSize = 8192;

    /// <summary>The largest dial data chunk the spec allows (a longer final chunk is accepted).</summary>
    public const int MaxDialDataChunk = 4096;

    private const int MinDialDataChunk = 100;
    private static readonly TimeSpan Minute = TimeSpan.FromMinutes(1);

    private readonly ILibp2pHost _host;
    private readonly IDialFeature _dial;
    private readonly IConnectionsFeature _connections;
    private readonly AutoNatV2ServerOptions _options;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly Random _random;
    private readonly Lock _lock = new();
    private readonly KeyedRateLimiter<PeerId> _perPeer;
    private readonly TokenBucket _all;
    private readonly TokenBucket _dialData;
    private readonly Dictionary<PeerId, int> _inFlight = [];
    private readonly ServedStreams _streams = new();
    private readonly Counter<long> _requests;
    private long _served;
    private long _refused;

    /// <summary>Creates the server; <see cref="Start"/> mounts it.</summary>
    /// <exception cref="NotSupportedException">The host lacks <see cref="IDialFeature"/> or <see cref="IConnectionsFeature"/>.</exception>
    /// <exception cref="ArgumentException">An option is invalid (the message names it).</exception>
    public AutoNatV2Server(ILibp2pHost host, AutoNatV2ServerOptions options, ILoggerFactory loggerFactory, IMeterFactory meterFactory, TimeProvider timeProvider)
    {
        ArgumentNullException.ThrowIfNull(host);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(loggerFactory);
        ArgumentNullException.ThrowIfNull(meterFactory);
        ArgumentNullException.ThrowIfNull(timeProvider);
        options.Validate();
        _requests = RelayMetrics.CreateMeter(meterFactory).CreateCounter<long>(
            "libp2p.autonat.v2.server.requests", "{request}", "AutoNAT v2 requests answered, by status (ok, rejected, refused, internal_error; reset: no answer), dial status, reason (dialed, relayed, rate_limited, dial_data_rate_limited, no_dialable_address, dial_data_refused, bad_request, timeout, stream_error) and whether dial data was asked.");
        _host = host;
        _dial = host.GetRequiredFeature<IDialFeature>("AutoNAT v2 server");
        _connections = host.GetRequiredFeature<IConnectionsFeature>("AutoNAT v2 server");
        _options = options;
        _logger = loggerFactory.CreateLogger<AutoNatV2Server>();
        _time = timeProvider;
        _random = new Random(options.RngSeed);
        _perPeer = new KeyedRateLimiter<PeerId>(timeProvider);
        _all = PerMinute(options.RequestsPerMinute, timeProvider);
        _dialData = PerMinute(options.DialDataRequestsPerMinute, timeProvider);
    }

    /// <summary>Requests answered <c>OK</c> (an address was dialed, whatever the outcome).</summary>
    public long RequestsServed => Interlocked.Read(ref _served);

    /// <summary>Requests rejected, refused, or reset (rate limits, nothing dialable, relayed, malformed, dial data not paid).</summary>
    public long RequestsRefused => Interlocked.Read(ref _refused);

    /// <summary>Serves the protocol (on direct connections only).</summary>
    public void Start() => _host.SetStreamHandler(DialRequestProtocol, HandleAsync);

    /// <summary>Stops serving, ends the requests in flight (their streams are reset) and waits for them. Idempotent.</summary>
    public async ValueTask DisposeAsync()
    {
        _host.RemoveStreamHandler(DialRequestProtocol);
        await _streams.DisposeAsync().ConfigureAwait(false);
    }

    private Task HandleAsync(ILibp2pStream stream, CancellationToken cancellationToken) => _streams.Serve(stream, cancellationToken, ServeAsync);

    private async Task ServeAsync(ILibp2pStream stream, CancellationToken cancellationToken)
    {
        PeerId peer = stream.Connection.RemotePeer;
        await using (stream.ConfigureAwait(false))
        {
            using var scope = new TimeoutScope(_options.StreamTimeout, _time, cancellationToken);
            Outcome outcome;
            try
            {
                outcome = await DecideAsync(stream, scope.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is IOException or InvalidDataException or InvalidProtocolBufferException or OperationCanceledException)
            {
                outcome = Outcome.Reset(ex is OperationCanceledException ? "timed out" : ex.Message, ex is OperationCanceledException ? "timeout" : "stream_error");
            }

            // Counted, logged and measured before the answer goes out (as v1 does): whoever has read the answer sees it counted.
            bool served = outcome.Response?.Status == PbV2.DialResponse.Types.ResponseStatus.Ok;
            Interlocked.Increment(ref served ? ref _served : ref _refused);
            string status = outcome.Response is null ? "reset" : StatusTag(outcome.Response.Status);
            string dialStatus = served ? DialStatusTag(outcome.Response!.DialStatus) : "none";
            AutoNatLog.V2Answered(_logger, peer, status, dialStatus, outcome.Reason);
            _requests.Add(
                1,
                new KeyValuePair<string, object?>("status", status),
                new KeyValuePair<string, object?>("dial_status", dialStatus),
                new KeyValuePair<string, object?>("reason", outcome.Tag),
                new KeyValuePair<string, object?>("dial_data", outcome.DialData));

            if (outcome.Response is null)
            {
                stream.Abort();
            }
            else
            {
                try
                {
                    await LengthPrefixed.WriteAsync(stream.Output, new PbV2.Message { DialResponse = outcome.Response }.ToByteArray(), scope.Token).ConfigureAwait(false);
                    await stream.Output.CompleteAsync().ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is IOException or OperationCanceledException)
                {
                    stream.Abort();
                }
            }
        }
    }

    private async Task<Outcome> DecideAsync(ILibp2pStream stream, CancellationToken cancellationToken)
    {
        ConnectionInfo connection = stream.Connection;
        PeerId peer = connection.RemotePeer;
        if (connection.IsRelayed || connection.RemoteAddress.IsRelayed || !connection.RemoteAddress.TryGetIPAddress(out IPAddress? observed))
        {
            return Outcome.Answer(PbV2.DialResponse.Types.ResponseStatus.ERequestRejected, "request over a relayed connection", "relayed");
        }

        if (!TryBegin(peer))
        {
            return Outcome.Answer(PbV2.DialResponse.Types.ResponseStatus.ERequestRejected, "too many requests", "rate_limited");
        }

        try
        {
            byte[] body = await LengthPrefixed.ReadAsync(stream.Input, MaxMessageSize, cancellationToken).ConfigureAwait(false)
                ?? throw new IOException("no request");
            PbV2.Message request = PbV2.Message.Parser.ParseFrom(body);
            if (request.MsgCase != PbV2.Message.MsgOneofCase.DialRequest)
            {
                return Outcome.Reset($"expected a dial request, got {request.MsgCase}", "bad_request");
            }

            (Multiaddr? address, int index) = Choose(request.DialRequest.Addrs);
            if (address is null)
            {
                return Outcome.Answer(PbV2.DialResponse.Types.ResponseStatus.EDialRefused, "no address it would dial", "no_dialable_address");
            }

            bool dialData = !address.TryGetIPAddress(out IPAddress? target) || !Subnet.Unmapped(target).Equals(Subnet.Unmapped(observed));
            if (dialData)
            {
                if (!_dialData.TryAcquire())
                {
                    return Outcome.Answer(PbV2.DialResponse.Types.ResponseStatus.ERequestRejected, "too many requests needing dial data", "dial_data_rate_limited", dialData: true);
                }

                int amount;
                TimeSpan wait;
                lock (_lock)
                {
                    amount = _random.Next(_options.MinDialData, _options.MaxDialData + 1);
                    wait = TimeSpan.FromTicks((long)(_random.NextDouble() * _options.DialDataWait.Ticks));
                }

                var ask = new PbV2.Message { DialDataRequest = new PbV2.DialDataRequest { AddrIdx = (uint)index, NumBytes = (ulong)amount } };
                await LengthPrefixed.WriteAsync(stream.Output, ask.ToByteArray(), cancellationToken).ConfigureAwait(false);
                if (await ReadDialDataAsync(stream, amount, cancellationToken).ConfigureAwait(false) is { } refusal)
                {
                    return Outcome.Reset(refusal, "dial_data_refused", dialData: true);
                }

                if (wait > TimeSpan.Zero)
                {
                    await Task.Delay(wait, _time, cancellationToken).ConfigureAwait(false);
                }
            }

            PbV2.DialStatus dialed = await DialBackAsync(peer, address, request.DialRequest.Nonce, cancellationToken).ConfigureAwait(false);
            return new Outcome(
                new PbV2.DialResponse { Status = PbV2.DialResponse.Types.ResponseStatus.Ok, AddrIdx = (uint)index, DialStatus = dialed },
                $"dialed {address}",
                "dialed",
                dialData);
        }
        finally
        {
            End(peer);
        }
    }

    /// <summary>Reads dial data until <paramref name="amount"/> bytes of <c>data</c> arrived; returns why it refuses them, or null.</summary>
    private static async Task<string?> ReadDialDataAsync(ILibp2pStream stream, int amount, CancellationToken cancellationToken)
    {
        for (long remaining = amount; remaining > 0;)
        {
            byte[]? body = await LengthPrefixed.ReadAsync(stream.Input, MaxMessageSize, cancellationToken).ConfigureAwait(false);
            if (body is null)
            {
                return "the requester declined to send dial data";
            }

            PbV2.Message message = PbV2.Message.Parser.ParseFrom(body);
            if (message.MsgCase != PbV2.Message.MsgOneofCase.DialDataResponse)
            {
                return $"expected dial data, got {message.MsgCase}";
            }

            int length = message.DialDataResponse.Data.Length;
            remaining -= length;
            if (remaining > 0 && (length > MaxDialDataChunk || length < MinDialDataChunk))
            {
                return $"a dial data chunk of {length} bytes (chunks are {MinDialDataChunk}–{MaxDialDataChunk} bytes)";
            }
        }

        return null;
    }

    /// <summary>Dials <paramref name="address"/> on a new connection, sends the nonce on a dial-back stream over it, closes it.</summary>
    private async Task<PbV2.DialStatus> DialBackAsync(PeerId peer, Multiaddr address, ulong nonce, CancellationToken cancellationToken)
    {
        ConnectionInfo back;
        using (var dialScope = new TimeoutScope(_options.DialBackTimeout, _time, cancellationToken))
        {
            try
            {
                // No ReuseListenPort: the dial-back leaves from an ephemeral port, so it cannot open a hole for the listen port.
                back = await _dial.DialAsync(address.WithPeerId(peer), new DialOptions { ForceNewConnection = true }, dialScope.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is IOException or TimeoutException || (ex is OperationCanceledException && !cancellationToken.IsCancellationRequested))
            {
                AutoNatLog.DialBackFailed(_logger, peer, address, ex.Message);
                return PbV2.DialStatus.EDialError;
            }
        }

        try
        {
            using var streamScope = new TimeoutScope(_options.DialBackStreamTimeout, _time, cancellationToken);
            ILibp2pStream stream = await _host.OpenStreamAsync(peer, AutoNatV2Client.DialBackProtocol, new OpenStreamOptions { Connection = back }, streamScope.Token).ConfigureAwait(false);
            await using (stream.ConfigureAwait(false))
            {
                await LengthPrefixed.WriteAsync(stream.Output, new PbV2.DialBack { Nonce = nonce }.ToByteArray(), streamScope.Token).ConfigureAwait(false);
                await stream.Output.CompleteAsync().ConfigureAwait(false);

                // The requester answers and closes; its answer carries nothing we need, but waiting for it lets the
                // nonce arrive before the connection is closed under it.
                _ = await LengthPrefixed.ReadAsync(stream.Input, AutoNatV2Client.MaxDialBackMessageSize, streamScope.Token).ConfigureAwait(false);
            }

            return PbV2.DialStatus.Ok;
        }
        catch (Exception ex) when (ex is IOException or InvalidDataException || (ex is OperationCanceledException && !cancellationToken.IsCancellationRequested))
        {
            AutoNatLog.DialBackFailed(_logger, peer, address, "connected, but the dial-back stream failed: " + ex.Message);
            return PbV2.DialStatus.EDialBackError;
        }
        finally
        {
            await _connections.CloseAsync(back, CancellationToken.None).ConfigureAwait(false);
        }
    }

    /// <summary>The first requested address the server will dial: direct, with an IP of a family it has, public unless allowed.</summary>
    private (Multiaddr? Address, int Index) Choose(IEnumerable<ByteString> requested)
    {
        int index = 0;
        foreach (ByteString bytes in requested.Take(_options.MaxAddresses))
        {
            if (Multiaddr.TryFromBytes(bytes.Span, out Multiaddr? address)
                && !address.IsRelayed
                && address.TryGetIPEndPoint(out IPEndPoint? endPoint)
                && address.Has("tcp")
                && (_options.AllowPrivate || !AddressClass.IsPrivate(address))
                && HasFamily(endPoint.Address))
            {
                return (address.WithoutPeerId(), index);
            }

            index++;
        }

        return (null, -1);
    }

    private bool HasFamily(IPAddress ip)
        => _host.Addresses.Any(a => a.TryGetIPAddress(out IPAddress? mine) && Subnet.Unmapped(mine).AddressFamily == Subnet.Unmapped(ip).AddressFamily);

    private static TokenBucket PerMinute(int permits, TimeProvider time) => new(permits / Minute.TotalSeconds, permits, time);

    private bool TryBegin(PeerId peer)
    {
        lock (_lock)
        {
            if (_inFlight.GetValueOrDefault(peer) >= _options.MaxConcurrentRequestsPerPeer)
            {
                return false;
            }

            if (!_perPeer.TryAcquire(peer, _options.RequestsPerPeerPerMinute, Minute) || !_all.TryAcquire())
            {
                return false;
            }

            _inFlight[peer] = _inFlight.GetValueOrDefault(peer) + 1;
            return true;
        }
    }

    private void End(PeerId peer)
    {
        lock (_lock)
        {
            int left = _inFlight.GetValueOrDefault(peer) - 1;
            if (left <= 0)
            {
                _inFlight.Remove(peer);
            }
            else
            {
                _inFlight[peer] = left;
            }
        }
    }

    private static string StatusTag(PbV2.DialResponse.Types.ResponseStatus status) => status switch
    {
        PbV2.DialResponse.Types.ResponseStatus.Ok => "ok",
        PbV2.DialResponse.Types.ResponseStatus.ERequestRejected => "rejected",
        PbV2.DialResponse.Types.ResponseStatus.EDialRefused => "refused",
        _ => "internal_error",
    };

    private static string DialStatusTag(PbV2.DialStatus status) => status switch
    {
        PbV2.DialStatus.Ok => "ok",
        PbV2.DialStatus.EDialError => "dial_error",
        PbV2.DialStatus.EDialBackError => "dial_back_error",
        _ => "none",
    };

    /// <summary>An answer to write (or none: reset the stream) and why.</summary>
    /// <remarks><paramref name="Tag"/> is the metric's <c>reason</c>: a fixed word, where <paramref name="Reason"/> is for the log.</remarks>
    private readonly record struct Outcome(PbV2.DialResponse? Response, string Reason, string Tag, bool DialData)
    {
        public static Outcome Answer(PbV2.DialResponse.Types.ResponseStatus status, string reason, string tag, bool dialData = false)
            => new(new PbV2.DialResponse { Status = status }, reason, tag, dialData);

        public static Outcome Reset(string reason, string tag, bool dialData = false) => new(null, reason, tag, dialData);
    }
}
