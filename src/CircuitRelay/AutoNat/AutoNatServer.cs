using System.Diagnostics.Metrics;
using System.Net;
using CircuitRelay.Abstractions;
using CircuitRelay.AutoRelay;
using CircuitRelay.Diagnostics;
using CircuitRelay.Internal;
using CircuitRelay.Multiformats;
using Google.Protobuf;
using Microsoft.Extensions.Logging;
using Pb = CircuitRelay.AutoNat.Pb;

namespace CircuitRelay.AutoNat;

/// <summary>
/// The AutoNAT v1 server (<see cref="ProtocolId"/>): dials a requester back at its addresses and says whether that
/// worked. Anti-amplification as the spec requires: only addresses on the requester's observed IP are dialed (each
/// requested address gets the observed IP), never for a request over a relayed connection; the peer id must be the
/// connection's; at most <see cref="AutoNatServerOptions.MaxAddresses"/> addresses; rate limits per peer and in all per
/// period (with seeded jitter); a failed request is answered only after the whole dial timeout, so the server cannot
/// scan ports; private addresses are refused unless <see cref="AutoNatServerOptions.AllowPrivate"/>.
/// </summary>
/// <remarks>Needs the host's <see cref="IDialFeature"/> (dial-backs on new connections) and <see cref="IConnectionsFeature"/> (closing them).</remarks>
public sealed class AutoNatServer : IAsyncDisposable
{
    /// <summary>The AutoNAT v1 protocol id.</summary>
    public const string ProtocolId = "/libp2p/autonat/1.0.0";

    /// <summary>The largest message, length prefix excluded (go's limit).</summary>
    public const int MaxMessageSize = 4096;

    private readonly ILibp2pHost _host;
    private readonly IDialFeature _dial;
    private readonly IConnectionsFeature _connections;
    private readonly AutoNatServerOptions _options;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly Random _random;
    private readonly Lock _lock = new();
    private readonly Dictionary<PeerId, int> _perPeer = [];
    private readonly ServedStreams _streams = new();
    private readonly Counter<long> _requests;
    private int _global;
    private DateTimeOffset _periodEnds;
    private long _served;
    private long _refused;

    /// <summary>Creates the server; <see cref="Start"/> mounts it.</summary>
    /// <exception cref="NotSupportedException">The host lacks <see cref="IDialFeature"/> or <see cref="IConnectionsFeature"/>.</exception>
    /// <exception cref="ArgumentException">An option is invalid (the message names it).</exception>
    public AutoNatServer(ILibp2pHost host, AutoNatServerOptions options, ILoggerFactory loggerFactory, IMeterFactory meterFactory, TimeProvider timeProvider)
    {
        ArgumentNullException.ThrowIfNull(host);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(loggerFactory);
        ArgumentNullException.ThrowIfNull(meterFactory);
        ArgumentNullException.ThrowIfNull(timeProvider);
        _requests = RelayMetrics.CreateMeter(meterFactory).CreateCounter<long>(
            "libp2p.autonat.server.requests", "{request}", "AutoNAT dial-back requests answered, by status (ok, dial_error served; dial_refused, bad_request refused) and reason.");
        options.Validate();
        _host = host;
        _dial = host.GetRequiredFeature<IDialFeature>("AutoNAT server");
        _connections = host.GetRequiredFeature<IConnectionsFeature>("AutoNAT server");
        _options = options;
        _logger = loggerFactory.CreateLogger<AutoNatServer>();
        _time = timeProvider;
        _random = new Random(options.RngSeed);
    }

    /// <summary>Dial-back requests answered with <see cref="AutoNatStatus.Ok"/> or <see cref="AutoNatStatus.DialError"/>.</summary>
    public long RequestsServed => Interlocked.Read(ref _served);

    /// <summary>Requests refused (rate limit, bad request, nothing dialable, relayed or private requester).</summary>
    public long RequestsRefused => Interlocked.Read(ref _refused);

    /// <summary>Serves the protocol (on direct connections only: the handler does not accept limited ones).</summary>
    public void Start() => _host.SetStreamHandler(ProtocolId, HandleAsync);

    /// <summary>Stops serving, ends the requests in flight (their streams are reset) and waits for them. Idempotent.</summary>
    public async ValueTask DisposeAsync()
    {
        _host.RemoveStreamHandler(ProtocolId);
        await _streams.DisposeAsync().ConfigureAwait(false);
    }

    private Task HandleAsync(ILibp2pStream stream, CancellationToken cancellationToken) => _streams.Serve(stream, cancellationToken, ServeAsync);

    private async Task ServeAsync(ILibp2pStream stream, CancellationToken cancellationToken)
    {
        await using (stream.ConfigureAwait(false))
        {
            try
            {
                (AutoNatStatus status, string text, Multiaddr? dialed) = await DecideAsync(stream, cancellationToken).ConfigureAwait(false);
                Interlocked.Increment(ref status is AutoNatStatus.Ok or AutoNatStatus.DialError ? ref _served : ref _refused);
                AutoNatLog.Answered(_logger, stream.Connection.RemotePeer, status, text);
                _requests.Add(1, new KeyValuePair<string, object?>("status", StatusTag(status)), new KeyValuePair<string, object?>("reason", text));
                var response = new Pb.Message
                {
                    Type = Pb.Message.Types.MessageType.DialResponse,
                    DialResponse = new Pb.Message.Types.DialResponse { Status = (Pb.Message.Types.ResponseStatus)(int)status, StatusText = text },
                };
                if (dialed is not null)
                {
                    response.DialResponse.Addr = ByteString.CopyFrom(dialed.ToByteArray());
                }

                await LengthPrefixed.WriteAsync(stream.Output, response.ToByteArray(), cancellationToken).ConfigureAwait(false);
                await stream.Output.CompleteAsync().ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is IOException or OperationCanceledException)
            {
                stream.Abort();
            }
        }
    }

    private async Task<(AutoNatStatus Status, string Text, Multiaddr? Dialed)> DecideAsync(ILibp2pStream stream, CancellationToken cancellationToken)
    {
        ConnectionInfo connection = stream.Connection;
        if (connection.IsRelayed || connection.RemoteAddress.IsRelayed)
        {
            return (AutoNatStatus.DialRefused, "request over a relayed connection", null);
        }

        Pb.Message request;
        using (var scope = new TimeoutScope(_options.StreamTimeout, _time, cancellationToken))
        {
            byte[]? body;
            try
            {
                body = await LengthPrefixed.ReadAsync(stream.Input, MaxMessageSize, scope.Token).ConfigureAwait(false);
            }
            catch (InvalidDataException)
            {
                return (AutoNatStatus.BadRequest, "malformed message", null);
            }

            if (body is null)
            {
                return (AutoNatStatus.BadRequest, "no request", null);
            }

            try
            {
                request = Pb.Message.Parser.ParseFrom(body);
            }
            catch (InvalidProtocolBufferException)
            {
                return (AutoNatStatus.BadRequest, "malformed message", null);
            }
        }

        if (request.Type != Pb.Message.Types.MessageType.Dial || request.Dial?.Peer is not { } peer)
        {
            return (AutoNatStatus.BadRequest, "expected DIAL with a peer", null);
        }

        if (peer.HasId && (!PeerId.TryFromBytes(peer.Id.Span, out PeerId? claimed) || claimed != connection.RemotePeer))
        {
            return (AutoNatStatus.BadRequest, "peer id mismatch", null);
        }

        if (!connection.RemoteAddress.TryGetIPAddress(out IPAddress? observed))
        {
            return (AutoNatStatus.DialRefused, "the observed address has no IP", null);
        }

        if (!_options.AllowPrivate && AddressClass.IsPrivate(connection.RemoteAddress))
        {
            return (AutoNatStatus.DialRefused, "the requester is at a private address", null);
        }

        if (!TryAdmit(connection.RemotePeer))
        {
            return (AutoNatStatus.DialRefused, "too many dials", null);
        }

        List<Multiaddr> candidates = Candidates(connection.RemoteAddress, observed, peer.Addrs);
        if (candidates.Count == 0)
        {
            return (AutoNatStatus.DialRefused, "no dialable addresses", null);
        }

        using var deadline = new TimeoutScope(_options.DialTimeout, _time, cancellationToken);
        foreach (Multiaddr candidate in candidates)
        {
            try
            {
                ConnectionInfo back = await _dial.DialAsync(candidate.WithPeerId(connection.RemotePeer), new DialOptions { ForceNewConnection = true }, deadline.Token).ConfigureAwait(false);
                await _connections.CloseAsync(back, cancellationToken).ConfigureAwait(false);
                return (AutoNatStatus.Ok, "dialed", candidate);
            }
            catch (Exception ex) when (ex is IOException or TimeoutException || (ex is OperationCanceledException && !cancellationToken.IsCancellationRequested))
            {
                AutoNatLog.DialBackFailed(_logger, connection.RemotePeer, candidate, ex.Message);
                if (deadline.TimedOut)
                {
                    break;
                }
            }
        }

        // Answer a failure only once the whole timeout has passed: how fast a dial failed says nothing to the requester.
        // The deadline's timer was armed before the first dial, so the wait needs no new timer.
        if (!deadline.TimedOut)
        {
            await Task.Delay(Timeout.InfiniteTimeSpan, deadline.Token).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            cancellationToken.ThrowIfCancellationRequested();
        }

        return (AutoNatStatus.DialError, "dial failed", null);
    }

    /// <summary>The observed address, then each requested TCP address with the observed IP put in; no relayed, private (unless allowed) or repeated ones; at most MaxAddresses.</summary>
    private List<Multiaddr> Candidates(Multiaddr observedAddress, IPAddress observed, IEnumerable<ByteString> requested)
    {
        var candidates = new List<Multiaddr>();
        void Add(Multiaddr address)
        {
            if (candidates.Count < _options.MaxAddresses + 1 && !candidates.Contains(address) && (_options.AllowPrivate || !AddressClass.IsPrivate(address)))
            {
                candidates.Add(address);
            }
        }

        if (observedAddress.TryGetIPEndPoint(out IPEndPoint? seen))
        {
            Add(Multiaddr.FromIPEndPoint(seen));
        }

        int taken = 0;
        foreach (ByteString bytes in requested)
        {
            if (taken++ >= _options.MaxAddresses)
            {
                break;
            }

            if (!Multiaddr.TryFromBytes(bytes.Span, out Multiaddr? address) || address.IsRelayed || !address.TryGetIPEndPoint(out IPEndPoint? endPoint))
            {
                continue;
            }

            Add(Multiaddr.FromIPEndPoint(new IPEndPoint(observed, endPoint.Port)));
        }

        return candidates;
    }

    /// <summary>The metric tag of a status: <c>ok</c>, <c>dial_error</c>, <c>dial_refused</c>, <c>bad_request</c>, <c>internal_error</c>.</summary>
    internal static string StatusTag(AutoNatStatus status) => status switch
    {
        AutoNatStatus.Ok => "ok",
        AutoNatStatus.DialError => "dial_error",
        AutoNatStatus.DialRefused => "dial_refused",
        AutoNatStatus.BadRequest => "bad_request",
        _ => "internal_error",
    };

    /// <summary>Counts the request against the per-peer and global limits of the current period.</summary>
    private bool TryAdmit(PeerId peer)
    {
        DateTimeOffset now = _time.GetUtcNow();
        lock (_lock)
        {
            if (now >= _periodEnds)
            {
                _perPeer.Clear();
                _global = 0;
                _periodEnds = now + _options.ThrottlePeriod + TimeSpan.FromMilliseconds(_random.NextDouble() * _options.ThrottleJitter.TotalMilliseconds);
            }

            int mine = _perPeer.GetValueOrDefault(peer);
            if (mine >= _options.MaxRequestsPerPeer || _global >= _options.MaxRequestsGlobal)
            {
                return false;
            }

            _perPeer[peer] = mine + 1;
            _global++;
            return true;
        }
    }
}
