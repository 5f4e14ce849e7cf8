using CircuitRelay.Crypto;
using ReservationVoucher = CircuitRelay.Crypto.ReservationVoucher;
using CircuitRelay.Abstractions;
using CircuitRelay.Protocol;
using CircuitRelay.Protocol.Pb;
using Google.Protobuf;

namespace CircuitRelay.Client;

/// <summary>What a relay granted: the validated content of a RESERVE answer.</summary>
internal sealed record ReservationGrant(DateTimeOffset Expiry, IReadOnlyList<Multiaddr> Addresses, RelayLimit? Limit, ReservationVoucher? Voucher);

/// <summary>
/// The client side of the hop protocol: RESERVE and CONNECT requests on a fresh hop stream. A refusal throws a
/// <see cref="RelayException"/> of kind <see cref="RelayErrorKind.Refused"/>, an invalid answer one of kind
/// <see cref="RelayErrorKind.ProtocolViolation"/>; an undecodable frame throws <see cref="ProtocolViolationException"/>
/// and I/O failures their <see cref="IOException"/>, which <see cref="RelayClient"/> maps with <see cref="RelayException.From"/>.
/// </summary>
internal static class OutboundHop
{
    public static async Task<ReservationGrant> ReserveAsync(ILibp2pStream stream, PeerId relay, PeerId self, ISignatureVerifier verifier, DateTimeOffset now, CancellationToken cancellationToken)
    {
        await MessageIO.WriteAsync(stream.Output, new HopMessage { Type = HopMessage.Types.Type.Reserve }, cancellationToken).ConfigureAwait(false);
        HopMessage response = await ReadStatusAsync(stream, "reserve", cancellationToken).ConfigureAwait(false);
        if (response.Reservation is not { } reservation)
        {
            throw RelayException.ProtocolViolation(RelayStatus.MalformedMessage, "reserve: the relay answered OK without a reservation");
        }

        if (!reservation.HasExpire)
        {
            throw RelayException.ProtocolViolation(RelayStatus.MalformedMessage, "reserve: the reservation has no expiry");
        }

        DateTimeOffset expiry = reservation.Expire > (ulong)DateTimeOffset.MaxValue.ToUnixTimeSeconds()
            ? DateTimeOffset.MaxValue
            : DateTimeOffset.FromUnixTimeSeconds((long)reservation.Expire);
        if (expiry <= now)
        {
            throw RelayException.ProtocolViolation(RelayStatus.MalformedMessage, $"reserve: the reservation expired already ({expiry:O})");
        }

        var addresses = new List<Multiaddr>(reservation.Addrs.Count);
        foreach (ByteString bytes in reservation.Addrs)
        {
            // Unparsable addresses are skipped, as go does.
            if (Multiaddr.TryFromBytes(bytes.Span, out Multiaddr? address) && !address.IsRelayed)
            {
                addresses.Add(address.WithoutPeerId().WithPeerId(relay));
            }
        }

        ReservationVoucher? voucher = null;
        if (reservation.HasVoucher && !reservation.Voucher.IsEmpty)
        {
            try
            {
                voucher = ReservationVoucher.Open(reservation.Voucher.Span, verifier);
            }
            catch (InvalidDataException ex)
            {
                throw RelayException.ProtocolViolation(RelayStatus.MalformedMessage, "reserve: invalid reservation voucher: " + ex.Message, ex);
            }

            if (voucher.Relay != relay)
            {
                throw RelayException.ProtocolViolation(RelayStatus.MalformedMessage, $"reserve: the voucher names relay {voucher.Relay}, not {relay}");
            }

            if (voucher.Peer != self)
            {
                throw RelayException.ProtocolViolation(RelayStatus.MalformedMessage, $"reserve: the voucher is for peer {voucher.Peer}, not for us");
            }

            if (voucher.Expiration <= now)
            {
                throw RelayException.ProtocolViolation(RelayStatus.MalformedMessage, $"reserve: the voucher expired at {voucher.Expiration:O}");
            }
        }

        return new ReservationGrant(expiry, addresses, MessageIO.FromWire(response.Limit), voucher);
    }

    /// <summary>Sends CONNECT; on OK the stream is the relayed connection and the relay's limit is returned.</summary>
    public static async Task<RelayLimit?> ConnectAsync(ILibp2pStream stream, PeerId target, CancellationToken cancellationToken)
    {
        var request = new HopMessage
        {
            Type = HopMessage.Types.Type.Connect,
            Peer = new Peer { Id = ByteString.CopyFrom(target.AsSpan()) },
        };
        await MessageIO.WriteAsync(stream.Output, request, cancellationToken).ConfigureAwait(false);
        HopMessage response = await ReadStatusAsync(stream, "connect", cancellationToken).ConfigureAwait(false);
        return MessageIO.FromWire(response.Limit);
    }

    private static async Task<HopMessage> ReadStatusAsync(ILibp2pStream stream, string operation, CancellationToken cancellationToken)
    {
        // An undecodable frame surfaces as ProtocolViolationException, which the caller maps with the I/O failures.
        HopMessage response = await MessageIO.ReadHopAsync(stream.Input, cancellationToken).ConfigureAwait(false);

        if (!response.HasType || response.Type != HopMessage.Types.Type.Status)
        {
            throw RelayException.ProtocolViolation(RelayStatus.UnexpectedMessage, $"{operation}: the relay answered with a {(response.HasType ? response.Type.ToString() : "typeless")} message instead of STATUS");
        }

        RelayStatus? status = MessageIO.FromWire(response.Status);
        if (status is null)
        {
            throw RelayException.ProtocolViolation(RelayStatus.MalformedMessage, $"{operation}: the relay answered with unknown status {(int)response.Status}");
        }

        if (status != RelayStatus.Ok)
        {
            throw RelayException.FromStatus(status.Value, operation);
        }

        return response;
    }
}
