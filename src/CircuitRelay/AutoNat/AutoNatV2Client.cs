using System.Collections.Concurrent;
using System.Security.Cryptography;
using CircuitRelay.Abstractions;
using CircuitRelay.Internal;
using CircuitRelay.Multiformats;
using Google.Protobuf;
using Microsoft.Extensions.Logging;
using PbV2 = CircuitRelay.AutoNat.PbV2;

namespace CircuitRelay.AutoNat;

/// <summary>
/// The AutoNAT v2 client: asks a connected server (over a direct connection) which of our addresses it can reach, one
/// address per probe, and answers the server's dial-back (<see cref="DialBackProtocol"/>) by checking the nonce. A
/// success counts only when our nonce arrived on a connection consistent with the address (same transports); the
/// peer id of the dial-back does not matter (a server may dial from another identity). Dial data the server asks for
/// is paid in chunks of at most 4 KiB, up to <see cref="MaxDialData"/>.
/// </summary>
/// <remarks>Mount it with <see cref="Start"/> before probing; dispose it to unmount.</remarks>
public sealed class AutoNatV2Client : IAsyncDisposable
{
    /// <summary>The AutoNAT v2 dial-back protocol id.</summary>
    public const string DialBackProtocol = "/libp2p/autonat/2/dial-back";

    /// <summary>The largest message on the dial-back stream, length prefix excluded (go's limit).</summary>
    public const int MaxDialBackMessageSize = 1024;

    /// <summary>Deadline of a dial-back stream (nonce read, answer written), as go's.</summary>
    private static readonly TimeSpan DialBackStreamTimeout = TimeSpan.FromSeconds(5);

    private static readonly byte[] Filler = new byte[AutoNatV2Server.MaxDialDataChunk];

    private readonly ILibp2pHost _host;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly ConcurrentDictionary<ulong, TaskCompletionSource<ConnectionInfo>> _pending = new();
    private readonly ServedStreams _streams = new();

    /// <summary>Creates the client.</summary>
    public AutoNatV2Client(ILibp2pHost host, ILoggerFactory loggerFactory, TimeProvider timeProvider)
    {
        ArgumentNullException.ThrowIfNull(host);
        ArgumentNullException.ThrowIfNull(loggerFactory);
        ArgumentNullException.ThrowIfNull(timeProvider);
        _host = host;
        _logger = loggerFactory.CreateLogger<AutoNatV2Client>();
        _time = timeProvider;
    }

    /// <summary>Deadline of one probe (dial data and the server's dial-back included). Default 30 seconds.</summary>
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>How long to wait for the nonce after the server said it delivered it. Default 5 seconds.</summary>
    public TimeSpan DialBackWait { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>The most dial data paid per probe (bytes); a server asking for more is declined. Default 100,000.</summary>
    public int MaxDialData { get; init; } = 100_000;

    /// <summary>Mounts the dial-back handler.</summary>
    public void Start() => _host.SetStreamHandler(DialBackProtocol, HandleDialBackAsync);

    /// <summary>Unmounts the dial-back handler and waits for dial-backs in flight. Idempotent.</summary>
    public async ValueTask DisposeAsync()
    {
        _host.RemoveStreamHandler(DialBackProtocol);
        await _streams.DisposeAsync().ConfigureAwait(false);
    }

    /// <summary>
    /// Asks <paramref name="server"/> (over an existing direct connection) to test <paramref name="addresses"/>, in
    /// priority order: it tests the first one it is willing to dial.
    /// </summary>
    /// <returns>The outcome; failures of the server (refusals, malformed or unknown answers) are outcomes too.</returns>
    /// <exception cref="IOException">No direct connection, or the server does not speak AutoNAT v2.</exception>
    /// <exception cref="TimeoutException">No answer within <see cref="RequestTimeout"/>.</exception>
    /// <exception cref="ArgumentException">No addresses, or more than the 50 a server looks at.</exception>
    public async Task<AutoNatV2Result> ProbeAsync(PeerId server, IReadOnlyList<Multiaddr> addresses, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(server);
        ArgumentNullException.ThrowIfNull(addresses);
        if (addresses.Count is 0 or > 50)
        {
            throw new ArgumentException($"An AutoNAT v2 probe asks about 1 to 50 addresses, not {addresses.Count}.", nameof(addresses));
        }

        // 63 random bits: js-libp2p's codec reads fixed64 as a signed integer, so a nonce with the top bit set would
        // not round-trip through a js server. A nonce is unpredictable, not secret for long: 63 bits are plenty.
        ulong nonce = BitConverter.ToUInt64(RandomNumberGenerator.GetBytes(8)) >> 1;
        var dialBack = new TaskCompletionSource<ConnectionInfo>(TaskCreationOptions.RunContinuationsAsynchronously);
        _pending[nonce] = dialBack;
        try
        {
            using var scope = new TimeoutScope(RequestTimeout, _time, cancellationToken);
            ILibp2pStream stream = await _host.OpenStreamAsync(server, AutoNatV2Server.DialRequestProtocol, new OpenStreamOptions { ExistingConnectionOnly = true }, scope.Token).ConfigureAwait(false);
            await using (stream.ConfigureAwait(false))
            {
                if (stream.Connection.IsRelayed)
                {
                    stream.Abort();
                    throw new IOException($"AutoNAT asks only over a direct connection; the one to {server} is relayed.");
                }

                try
                {
                    return await ExchangeAsync(stream, server, addresses, nonce, dialBack.Task, scope.Token).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is InvalidProtocolBufferException or InvalidDataException)
                {
                    stream.Abort();
                    return Failed(server, ex is InvalidDataException ? ex.Message : $"malformed answer: {ex.Message}");
                }
                catch (OperationCanceledException ex) when (scope.TimedOut && !cancellationToken.IsCancellationRequested)
                {
                    stream.Abort();
                    throw new TimeoutException($"{server} did not answer the AutoNAT v2 request within {RequestTimeout.TotalSeconds} s.", ex);
                }
            }
        }
        finally
        {
            _pending.TryRemove(nonce, out _);
        }
    }

    private async Task<AutoNatV2Result> ExchangeAsync(ILibp2pStream stream, PeerId server, IReadOnlyList<Multiaddr> addresses, ulong nonce, Task<ConnectionInfo> dialBack, CancellationToken cancellationToken)
    {
        var request = new PbV2.Message { DialRequest = new PbV2.DialRequest { Nonce = nonce } };
        foreach (Multiaddr asked in addresses)
        {
            request.DialRequest.Addrs.Add(ByteString.CopyFrom(asked.WithoutPeerId().ToByteArray()));
        }

        await LengthPrefixed.WriteAsync(stream.Output, request.ToByteArray(), cancellationToken).ConfigureAwait(false);
        PbV2.Message answer = await ReadAsync(stream, server, cancellationToken).ConfigureAwait(false);
        int paid = 0;
        if (answer.MsgCase == PbV2.Message.MsgOneofCase.DialDataRequest)
        {
            PbV2.DialDataRequest ask = answer.DialDataRequest;
            if (ask.AddrIdx >= addresses.Count || ask.NumBytes > (ulong)MaxDialData)
            {
                stream.Abort();
                return Failed(server, $"declined to pay {ask.NumBytes} bytes of dial data for address #{ask.AddrIdx} (at most {MaxDialData} for one of the {addresses.Count} asked about)");
            }

            paid = (int)ask.NumBytes;
            for (int sent = 0; sent < paid; sent += Filler.Length)
            {
                var chunk = new PbV2.Message { DialDataResponse = new PbV2.DialDataResponse { Data = ByteString.CopyFrom(Filler, 0, Math.Min(Filler.Length, paid - sent)) } };
                await LengthPrefixed.WriteAsync(stream.Output, chunk.ToByteArray(), cancellationToken).ConfigureAwait(false);
            }

            answer = await ReadAsync(stream, server, cancellationToken).ConfigureAwait(false);
        }

        await stream.Output.CompleteAsync().ConfigureAwait(false);
        if (answer.MsgCase != PbV2.Message.MsgOneofCase.DialResponse)
        {
            stream.Abort();
            return Failed(server, $"expected a dial response, got {answer.MsgCase}", paid);
        }

        PbV2.DialResponse response = answer.DialResponse;
        switch (response.Status)
        {
            case PbV2.DialResponse.Types.ResponseStatus.EDialRefused:
                return new AutoNatV2Result(server, AutoNatV2Outcome.Refused, null, paid, "the server would dial none of the addresses");
            case PbV2.DialResponse.Types.ResponseStatus.ERequestRejected:
                return new AutoNatV2Result(server, AutoNatV2Outcome.Rejected, null, paid, "the server rejected the request");
            case PbV2.DialResponse.Types.ResponseStatus.EInternalError:
                return Failed(server, "the server had an internal error", paid);
            case PbV2.DialResponse.Types.ResponseStatus.Ok:
                break;
            default:
                return Failed(server, $"discarded an answer with the unknown status {(int)response.Status}", paid);
        }

        if (response.AddrIdx >= addresses.Count)
        {
            return Failed(server, $"the server named address #{response.AddrIdx} of {addresses.Count}", paid);
        }

        Multiaddr address = addresses[(int)response.AddrIdx].WithoutPeerId();
        switch (response.DialStatus)
        {
            case PbV2.DialStatus.EDialError:
                return new AutoNatV2Result(server, AutoNatV2Outcome.Unreachable, address, paid, "the server could not connect");
            case PbV2.DialStatus.Ok:
            case PbV2.DialStatus.EDialBackError:
                ConnectionInfo? back = await WaitAsync(dialBack, response.DialStatus == PbV2.DialStatus.Ok ? DialBackWait : TimeSpan.Zero, cancellationToken).ConfigureAwait(false);
                if (back is null)
                {
                    return response.DialStatus == PbV2.DialStatus.Ok
                        ? Failed(server, "the server claims a dial-back, but our nonce never arrived", paid, address)
                        : Failed(server, "the server connected but could not deliver the nonce", paid, address);
                }

                if (back.LocalAddress is { } local && !Consistent(local, address))
                {
                    return Failed(server, $"the nonce arrived on a connection at {local}, not one like {address}", paid, address);
                }

                return new AutoNatV2Result(server, AutoNatV2Outcome.Reachable, address, paid, "our nonce arrived on the server's dial-back");
            default:
                return Failed(server, $"discarded an answer with the dial status {(int)response.DialStatus}", paid, address);
        }
    }

    private async Task<ConnectionInfo?> WaitAsync(Task<ConnectionInfo> dialBack, TimeSpan wait, CancellationToken cancellationToken)
    {
        if (dialBack.IsCompleted || wait <= TimeSpan.Zero)
        {
            return dialBack.IsCompletedSuccessfully ? dialBack.Result : null;
        }

        try
        {
            return await dialBack.WaitAsync(wait, _time, cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            return null;
        }
    }

    private static async Task<PbV2.Message> ReadAsync(ILibp2pStream stream, PeerId server, CancellationToken cancellationToken)
    {
        byte[] body = await LengthPrefixed.ReadAsync(stream.Input, AutoNatV2Server.MaxMessageSize, cancellationToken).ConfigureAwait(false)
            ?? throw new InvalidDataException($"{server} closed the AutoNAT v2 stream without answering.");
        return PbV2.Message.Parser.ParseFrom(body);
    }

    /// <summary>Whether the dial-back's local address has the transports of the address asked about (its host part, the IP or name, differs behind a NAT).</summary>
    private static bool Consistent(Multiaddr local, Multiaddr asked)
        => local.WithoutPeerId().Components.Skip(1).Select(c => c.Name).SequenceEqual(asked.WithoutPeerId().Components.Skip(1).Select(c => c.Name), StringComparer.Ordinal);

    private static AutoNatV2Result Failed(PeerId server, string reason, int paid = 0, Multiaddr? address = null)
        => new(server, AutoNatV2Outcome.Failed, address, paid, reason);

    private Task HandleDialBackAsync(ILibp2pStream stream, CancellationToken cancellationToken) => _streams.Serve(stream, cancellationToken, AnswerDialBackAsync);

    private async Task AnswerDialBackAsync(ILibp2pStream stream, CancellationToken cancellationToken)
    {
        await using (stream.ConfigureAwait(false))
        {
            try
            {
                using var scope = new TimeoutScope(DialBackStreamTimeout, _time, cancellationToken);
                byte[]? body = await LengthPrefixed.ReadAsync(stream.Input, MaxDialBackMessageSize, scope.Token).ConfigureAwait(false);
                if (body is null)
                {
                    stream.Abort();
                    return;
                }

                ulong nonce = PbV2.DialBack.Parser.ParseFrom(body).Nonce;
                if (!_pending.TryGetValue(nonce, out TaskCompletionSource<ConnectionInfo>? waiting) || !waiting.TrySetResult(stream.Connection))
                {
                    AutoNatLog.UnknownNonce(_logger, stream.Connection.RemotePeer, stream.Connection.RemoteAddress);
                    stream.Abort();
                    return;
                }

                await LengthPrefixed.WriteAsync(stream.Output, new PbV2.DialBackResponse { Status = PbV2.DialBackResponse.Types.DialBackStatus.Ok }.ToByteArray(), scope.Token).ConfigureAwait(false);
                await stream.Output.CompleteAsync().ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is IOException or InvalidDataException or InvalidProtocolBufferException or OperationCanceledException)
            {
                stream.Abort();
            }
        }
    }
}
