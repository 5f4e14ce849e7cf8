using CircuitRelay.Abstractions;
using CircuitRelay.Internal;
using CircuitRelay.Multiformats;
using Google.Protobuf;
using Pb = CircuitRelay.AutoNat.Pb;

namespace CircuitRelay.AutoNat;

/// <summary>
/// The AutoNAT v1 client: asks a connected server to dial this node back at its addresses, over a direct connection
/// only (a relayed one says nothing about our reachability). Feed the results to a <see cref="ReachabilityTracker"/>.
/// </summary>
public sealed class AutoNatClient
{
    private readonly ILibp2pHost _host;
    private readonly IAddressesFeature? _addresses;
    private readonly TimeProvider _time;

    /// <summary>Creates the client.</summary>
    public AutoNatClient(ILibp2pHost host, TimeProvider timeProvider)
    {
        ArgumentNullException.ThrowIfNull(host);
        ArgumentNullException.ThrowIfNull(timeProvider);
        _host = host;
        _addresses = host.GetFeature<IAddressesFeature>();
        _time = timeProvider;
    }

    /// <summary>Deadline of one probe (the server may wait out its whole 15 s dial timeout). Default 30 seconds.</summary>
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Asks <paramref name="server"/> (over an existing direct connection) to dial us back at
    /// <paramref name="addresses"/>, or at our own direct listen and external addresses when none are given.
    /// </summary>
    /// <exception cref="IOException">No direct connection, the server does not speak AutoNAT, or its answer is malformed.</exception>
    /// <exception cref="TimeoutException">No answer within <see cref="RequestTimeout"/>.</exception>
    public async Task<AutoNatProbeResult> ProbeAsync(PeerId server, IReadOnlyList<Multiaddr>? addresses = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(server);
        IEnumerable<Multiaddr> mine = addresses ?? (_addresses is null ? _host.Addresses : _addresses.ListenAddresses.Concat(_addresses.ExternalAddresses));
        var request = new Pb.Message
        {
            Type = Pb.Message.Types.MessageType.Dial,
            Dial = new Pb.Message.Types.Dial { Peer = new Pb.Message.Types.PeerInfo { Id = ByteString.CopyFrom(_host.Identity.PeerId.ToByteArray()) } },
        };
        foreach (Multiaddr address in mine.Where(a => !a.IsRelayed).Select(a => a.WithoutPeerId()).Distinct().Take(16))
        {
            request.Dial.Peer.Addrs.Add(ByteString.CopyFrom(address.ToByteArray()));
        }

        using var scope = new TimeoutScope(RequestTimeout, _time, cancellationToken);
        ILibp2pStream stream = await _host.OpenStreamAsync(server, AutoNatServer.ProtocolId, new OpenStreamOptions { ExistingConnectionOnly = true }, scope.Token).ConfigureAwait(false);
        await using (stream.ConfigureAwait(false))
        {
            if (stream.Connection.IsRelayed)
            {
                stream.Abort();
                throw new IOException($"AutoNAT asks only over a direct connection; the one to {server} is relayed.");
            }

            try
            {
                await LengthPrefixed.WriteAsync(stream.Output, request.ToByteArray(), scope.Token).ConfigureAwait(false);
                await stream.Output.CompleteAsync().ConfigureAwait(false);
                byte[] body = await LengthPrefixed.ReadAsync(stream.Input, AutoNatServer.MaxMessageSize, scope.Token).ConfigureAwait(false)
                    ?? throw new IOException($"{server} closed the AutoNAT stream without answering.");
                Pb.Message response = Pb.Message.Parser.ParseFrom(body);
                if (response.Type != Pb.Message.Types.MessageType.DialResponse || response.DialResponse is not { } answer)
                {
                    throw new IOException($"{server} answered AutoNAT with something other than DIAL_RESPONSE.");
                }

                Multiaddr? dialed = answer.HasAddr && Multiaddr.TryFromBytes(answer.Addr.Span, out Multiaddr? parsed) ? parsed : null;
                AutoNatStatus status = Enum.IsDefined((AutoNatStatus)(int)answer.Status) ? (AutoNatStatus)(int)answer.Status : AutoNatStatus.InternalError;
                return new AutoNatProbeResult(server, status, answer.HasStatusText ? answer.StatusText : null, dialed);
            }
            catch (Exception ex) when (ex is InvalidProtocolBufferException or InvalidDataException)
            {
                stream.Abort();
                throw new IOException($"{server} sent a malformed AutoNAT answer.", ex);
            }
            catch (OperationCanceledException ex) when (scope.TimedOut && !cancellationToken.IsCancellationRequested)
            {
                stream.Abort();
                throw new TimeoutException($"{server} did not answer the AutoNAT request within {RequestTimeout.TotalSeconds} s.", ex);
            }
        }
    }
}
