using System.Collections.Concurrent;
using CircuitRelay.Abstractions;
using CircuitRelay.AutoRelay;
using CircuitRelay.Internal;
using CircuitRelay.Multiformats;
using Google.Protobuf;
using Microsoft.Extensions.Logging;
using GossipMessage = CircuitRelay.Adverts.Pb.AdvertGossip;

namespace CircuitRelay.Adverts;

/// <summary>
/// The relay advert gossip (<see cref="ProtocolId"/>): on every new direct connection this node pushes the adverts it
/// knows (its own first, then the best-known relays of its <see cref="RelayAddressBook"/>), a peer may pull them, and
/// what peers send goes into the book with the sending peer as its source. Adverts travel exactly as their relays
/// sealed them, so the signature is the relay's, whoever forwards it.
/// </summary>
/// <remarks>
/// <para>Wire: each message is an uvarint-length-prefixed <c>AdvertGossip</c> protobuf of at most
/// <see cref="MaxMessageSize"/> bytes with at most <see cref="MaxAdvertsPerMessage"/> adverts; the opener sends its
/// messages and half-closes; when one of them asks to <c>pull</c>, the receiver answers on the same stream and
/// half-closes.</para>
/// <para>Bad input: a peer that sends an undecodable or oversized message or a forged or malformed advert is dropped
/// from gossip for <see cref="AdvertGossipOptions.BanDuration"/> (its streams are reset, nothing is sent to it); adverts
/// over a peer's rate limit are dropped with the rest of the stream. Neither stops the service.</para>
/// <para>It uses nothing but <see cref="ILibp2pHost"/>: streams, handlers and connection events.</para>
/// </remarks>
public sealed class AdvertGossipService : IAsyncDisposable
{
    /// <summary>The gossip protocol id.</summary>
    public const string ProtocolId = "/circuitrelay/relay-adverts/1.0.0";

    /// <summary>The largest message, length prefix excluded.</summary>
    public const int MaxMessageSize = 4096;

    /// <summary>The most adverts in one message (each sealed advert is at most <see cref="RelayAdvert.MaxEnvelopeSize"/> bytes).</summary>
    public const int MaxAdvertsPerMessage = 3;

    /// <summary>The most messages read from one stream; the rest is dropped.</summary>
    internal const int MaxMessagesPerStream = 64;

    private static readonly StreamHandlerOptions HandlerOptions = new() { AllowLimitedConnection = false };

    private readonly ILibp2pHost _host;
    private readonly RelayAddressBook _book;
    private readonly AdvertGossipOptions _options;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly TaskTracker _tasks = new();
    private readonly KeyedRateLimiter<PeerId> _limiter;
    private readonly ConcurrentDictionary<PeerId, DateTimeOffset> _banned = new();
    private readonly ConcurrentDictionary<PeerId, byte> _connected = new();
    private readonly CancellationTokenSource _shutdown = new();
    private int _started;
    private int _disposed;

    /// <summary>Creates the service; <see cref="Start"/> mounts it on the host.</summary>
    /// <exception cref="ArgumentException">An option is invalid (the message names it).</exception>
    public AdvertGossipService(ILibp2pHost host, RelayAddressBook book, AdvertGossipOptions options, ILoggerFactory loggerFactory, TimeProvider timeProvider)
    {
        ArgumentNullException.ThrowIfNull(host);
        ArgumentNullException.ThrowIfNull(book);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(loggerFactory);
        ArgumentNullException.ThrowIfNull(timeProvider);
        options.Validate();
        _host = host;
        _book = book;
        _options = options;
        _logger = loggerFactory.CreateLogger<AdvertGossipService>();
        _time = timeProvider;
        _limiter = new KeyedRateLimiter<PeerId>(timeProvider);
    }

    /// <summary>Serves the protocol and pushes to every new direct connection from now on.</summary>
    public void Start()
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        if (Interlocked.Exchange(ref _started, 1) != 0)
        {
            return;
        }

        _host.SetStreamHandler(ProtocolId, HandleAsync, HandlerOptions);
        _host.ConnectionOpened += OnConnectionOpened;
        _host.ConnectionClosed += OnConnectionClosed;
    }

    /// <summary>Whether <paramref name="peer"/> is dropped from gossip now.</summary>
    public bool IsBanned(PeerId peer)
    {
        ArgumentNullException.ThrowIfNull(peer);
        if (!_banned.TryGetValue(peer, out DateTimeOffset until))
        {
            return false;
        }

        if (_time.GetUtcNow() < until)
        {
            return true;
        }

        _banned.TryRemove(peer, out _);
        return false;
    }

    /// <summary>Sends what this node knows to <paramref name="peer"/> over an existing direct connection.</summary>
    /// <returns>How many adverts were sent (0 when the peer is banned).</returns>
    /// <exception cref="IOException">No direct connection, the peer does not speak the protocol, or the stream failed.</exception>
    public Task<int> PushAsync(PeerId peer, CancellationToken cancellationToken = default)
        => ExchangeAsync(peer, async (stream, token) =>
        {
            int sent = await WriteKnownAsync(stream, token).ConfigureAwait(false);
            await stream.Output.CompleteAsync().ConfigureAwait(false);
            AdvertLog.Pushed(_logger, peer, sent);
            return sent;
        }, cancellationToken);

    /// <summary>Asks <paramref name="peer"/> for the adverts it knows and adds them to the book.</summary>
    /// <returns>How many adverts the book took.</returns>
    /// <exception cref="IOException">No direct connection, the peer does not speak the protocol, or the stream failed.</exception>
    public Task<int> PullAsync(PeerId peer, CancellationToken cancellationToken = default)
        => ExchangeAsync(peer, async (stream, token) =>
        {
            await LengthPrefixed.WriteAsync(stream.Output, new GossipMessage { Pull = true }.ToByteArray(), token).ConfigureAwait(false);
            await stream.Output.CompleteAsync().ConfigureAwait(false);
            (int stored, _, _) = await ReadAsync(stream, peer, token).ConfigureAwait(false);
            return stored;
        }, cancellationToken);

    /// <summary>Pushes to every peer this node has a direct connection to (call it when the local advert changed).</summary>
    public async Task PushToAllAsync(CancellationToken cancellationToken = default)
    {
        foreach (PeerId peer in _connected.Keys)
        {
            try
            {
                await PushAsync(peer, cancellationToken).ConfigureAwait(false);
            }
            catch (IOException ex)
            {
                AdvertLog.ExchangeFailed(_logger, peer, ex.Message);
            }
        }
    }

    /// <summary>Stops serving and waits for the exchanges in flight. Idempotent.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        if (Volatile.Read(ref _started) != 0)
        {
            _host.RemoveStreamHandler(ProtocolId);
            _host.ConnectionOpened -= OnConnectionOpened;
            _host.ConnectionClosed -= OnConnectionClosed;
        }

        await _shutdown.CancelAsync().ConfigureAwait(false);
        await _tasks.CloseAsync().ConfigureAwait(false);
        _shutdown.Dispose();
    }

    /// <summary>One outbound exchange: nothing with a banned peer, a stream over an existing direct connection, the stream deadline.</summary>
    private async Task<int> ExchangeAsync(PeerId peer, Func<ILibp2pStream, CancellationToken, Task<int>> exchange, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(peer);
        if (IsBanned(peer))
        {
            return 0;
        }

        ILibp2pStream stream = await _host.OpenStreamAsync(peer, ProtocolId, new OpenStreamOptions { ExistingConnectionOnly = true }, cancellationToken).ConfigureAwait(false);
        await using (stream.ConfigureAwait(false))
        {
            using var scope = new TimeoutScope(_options.StreamTimeout, _time, cancellationToken);
            return await exchange(stream, scope.Token).ConfigureAwait(false);
        }
    }

    private void OnConnectionOpened(object? sender, ConnectionEventArgs e)
    {
        if (e.Connection.IsLimited)
        {
            return;
        }

        PeerId peer = e.Connection.RemotePeer;
        _connected.TryAdd(peer, 0);
        _tasks.TryRun(() => PushInBackgroundAsync(peer));
    }

    private void OnConnectionClosed(object? sender, ConnectionEventArgs e)
    {
        if (_host.GetConnections(e.Connection.RemotePeer).All(c => c.IsLimited))
        {
            _connected.TryRemove(e.Connection.RemotePeer, out _);
        }
    }

    private async Task PushInBackgroundAsync(PeerId peer)
    {
        await Task.Yield();
        try
        {
            await PushAsync(peer, _shutdown.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException)
        {
            // Not every peer speaks the protocol; best effort.
            AdvertLog.ExchangeFailed(_logger, peer, ex.Message);
        }
    }

    private async Task HandleAsync(ILibp2pStream stream, CancellationToken cancellationToken)
    {
        PeerId peer = stream.Connection.RemotePeer;
        await using (stream.ConfigureAwait(false))
        {
            if (IsBanned(peer))
            {
                stream.Abort();
                return;
            }

            try
            {
                using var scope = new TimeoutScope(_options.StreamTimeout, _time, cancellationToken);
                (_, bool pull, bool aborted) = await ReadAsync(stream, peer, scope.Token).ConfigureAwait(false);
                if (aborted)
                {
                    return;
                }

                if (pull)
                {
                    int sent = await WriteKnownAsync(stream, scope.Token).ConfigureAwait(false);
                    AdvertLog.Pushed(_logger, peer, sent);
                }

                await stream.Output.CompleteAsync().ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is IOException or OperationCanceledException)
            {
                AdvertLog.ExchangeFailed(_logger, peer, ex.Message);
                stream.Abort();
            }
        }
    }

    /// <summary>Reads messages until end of stream and adds their adverts; bans the peer on garbage (and resets).</summary>
    /// <returns>How many adverts the book took, and whether a message asked to pull.</returns>
    private async Task<(int Stored, bool Pull, bool Aborted)> ReadAsync(ILibp2pStream stream, PeerId peer, CancellationToken cancellationToken)
    {
        int received = 0, stored = 0;
        bool pull = false;
        for (int messages = 0; messages < MaxMessagesPerStream; messages++)
        {
            GossipMessage message;
            try
            {
                byte[]? body = await LengthPrefixed.ReadAsync(stream.Input, MaxMessageSize, cancellationToken).ConfigureAwait(false);
                if (body is null)
                {
                    break;
                }

                message = GossipMessage.Parser.ParseFrom(body);
                if (message.Adverts.Count > MaxAdvertsPerMessage)
                {
                    throw new InvalidDataException($"{message.Adverts.Count} adverts in one message, more than {MaxAdvertsPerMessage}.");
                }
            }
            catch (Exception ex) when (ex is InvalidDataException or InvalidProtocolBufferException)
            {
                Ban(peer, stream, ex.Message);
                return (stored, false, true);
            }

            pull |= message.Pull;
            foreach (ByteString envelope in message.Adverts)
            {
                received++;
                if (!_limiter.TryAcquire(peer, _options.MaxAdvertsPerMinutePerPeer, TimeSpan.FromMinutes(1)))
                {
                    AdvertLog.RateLimited(_logger, peer);
                    stream.Abort();
                    AdvertLog.Received(_logger, peer, received, stored);
                    return (stored, false, true);
                }

                SignedRelayAdvert advert;
                try
                {
                    advert = RelayAdvert.Open(envelope.Span, _host.SignatureVerifier);
                }
                catch (InvalidDataException ex)
                {
                    Ban(peer, stream, ex.Message);
                    return (stored, false, true);
                }

                if (_book.AddAdvert(advert, peer))
                {
                    stored++;
                }
            }
        }

        AdvertLog.Received(_logger, peer, received, stored);
        return (stored, pull, false);
    }

    private void Ban(PeerId peer, ILibp2pStream stream, string reason)
    {
        DateTimeOffset until = _time.GetUtcNow() + _options.BanDuration;
        if (_banned.Count >= 4096)
        {
            DateTimeOffset now = _time.GetUtcNow();
            foreach ((PeerId banned, DateTimeOffset bannedUntil) in _banned)
            {
                if (bannedUntil <= now)
                {
                    _banned.TryRemove(banned, out _);
                }
            }
        }

        _banned[peer] = until;
        AdvertLog.PeerBanned(_logger, peer, until, reason);
        stream.Abort();
    }

    /// <summary>Writes the local advert and the best-known valid ones, <see cref="MaxAdvertsPerMessage"/> per message.</summary>
    private async Task<int> WriteKnownAsync(ILibp2pStream stream, CancellationToken cancellationToken)
    {
        DateTimeOffset now = _time.GetUtcNow();
        var envelopes = new List<ReadOnlyMemory<byte>>();
        if (_options.LocalAdvert?.Invoke() is { } local)
        {
            envelopes.Add(local);
        }

        envelopes.AddRange(_book.GetEntries()
            .Where(e => e.Advert is not null && e.Advert.Advert.IsValidAt(now) && e.Relay != stream.Connection.RemotePeer)
            .OrderByDescending(e => e.SourceCount)
            .ThenBy(e => e.Relay.ToString(), StringComparer.Ordinal)
            .Take(_options.MaxAdvertsPerPush - envelopes.Count)
            .Select(e => e.Advert!.Envelope));
        foreach (ReadOnlyMemory<byte>[] chunk in envelopes.Chunk(MaxAdvertsPerMessage))
        {
            var message = new GossipMessage();
            foreach (ReadOnlyMemory<byte> envelope in chunk)
            {
                message.Adverts.Add(ByteString.CopyFrom(envelope.Span));
            }

            await LengthPrefixed.WriteAsync(stream.Output, message.ToByteArray(), cancellationToken).ConfigureAwait(false);
        }

        return envelopes.Count;
    }
}
