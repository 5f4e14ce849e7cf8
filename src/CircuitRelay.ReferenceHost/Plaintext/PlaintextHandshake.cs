using System.IO.Pipelines;
using CircuitRelay.Abstractions;
using CircuitRelay.Crypto;
using CircuitRelay.Multiformats;
using Google.Protobuf;

namespace CircuitRelay.ReferenceHost.Plaintext;

/// <summary>
/// The libp2p <c>/plaintext/2.0.0</c> "security" handshake: each side announces its peer id and public key, nothing
/// is encrypted or signed. For tests and in-process networks only, where it stands in for Noise so that the
/// upgrade path (multistream-select, security, muxer) is the production one.
/// </summary>
/// <remarks>
/// <para>
/// Both sides do the same: send one <c>Exchange { id, pubkey }</c> prefixed by its unsigned-varint length, then
/// read the remote's. The length is checked against <see cref="MaxMessageSize"/> before the body is read, exactly
/// the message is read, and what follows it on <c>raw</c> is the next protocol, left untouched. After the exchange
/// <c>raw</c> carries the next protocol as it is: there is no session object.
/// </para>
/// <para>
/// Failures: <see cref="InvalidDataException"/> for a remote that breaks the protocol (message too large, not a
/// valid <c>Exchange</c>, an id that is not the key's) or that is not the expected peer;
/// <see cref="EndOfStreamException"/> when the connection ends before the whole message arrived (as for Noise);
/// <see cref="OperationCanceledException"/> when the token fires. On any failure both sides of <c>raw</c> are
/// completed (the remote sees the connection close), as the Noise handshake does.
/// </para>
/// </remarks>
internal static class PlaintextHandshake
{
    /// <summary>The multistream-select protocol id.</summary>
    public const string ProtocolId = "/plaintext/2.0.0";

    /// <summary>The largest <c>Exchange</c> accepted, in bytes (an RSA-8192 key, the largest libp2p allows, takes about 1.1 KiB).</summary>
    public const int MaxMessageSize = 4096;

    /// <summary>Sends the local identity and reads the remote's.</summary>
    /// <param name="raw">The raw connection, positioned where the exchange starts.</param>
    /// <param name="local">The local identity to announce.</param>
    /// <param name="expectedRemote">The peer that was dialed, or <see langword="null"/> to accept any.</param>
    /// <param name="cancellationToken">Bounds the exchange.</param>
    /// <returns>The remote's peer id and key.</returns>
    public static async Task<PlaintextResult> ExchangeAsync(IDuplexPipe raw, ILocalIdentity local, PeerId? expectedRemote, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(raw);
        ArgumentNullException.ThrowIfNull(local);
        try
        {
            var outgoing = new Pb.Exchange
            {
                Id = ByteString.CopyFrom(local.PeerId.AsSpan()),
                Pubkey = ByteString.CopyFrom(local.PublicKey.ToProtobuf()),
            };
            await LengthPrefixed.WriteAsync(raw.Output, outgoing.ToByteArray(), cancellationToken).ConfigureAwait(false);

            byte[] body = await LengthPrefixed.ReadAsync(raw.Input, MaxMessageSize, cancellationToken).ConfigureAwait(false)
                ?? throw new EndOfStreamException("The connection closed before the remote sent its plaintext Exchange.");
            PlaintextResult remote = Verify(body);
            if (expectedRemote is not null && remote.RemotePeer != expectedRemote)
            {
                throw new InvalidDataException($"The plaintext exchange identified the remote as {remote.RemotePeer}, but {expectedRemote} was expected.");
            }

            return remote;
        }
        catch
        {
            await raw.Input.CompleteAsync().ConfigureAwait(false);
            await raw.Output.CompleteAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Decodes an <c>Exchange</c> and checks that its id is the peer id of its key.</summary>
    private static PlaintextResult Verify(byte[] body)
    {
        Pb.Exchange message;
        try
        {
            message = Pb.Exchange.Parser.ParseFrom(body);
        }
        catch (InvalidProtocolBufferException ex)
        {
            throw new InvalidDataException("The plaintext Exchange is not a valid protobuf.", ex);
        }

        if (!message.HasId || !message.HasPubkey)
        {
            throw new InvalidDataException("The plaintext Exchange lacks the id or the pubkey field.");
        }

        PublicKey key;
        PeerId claimed;
        try
        {
            key = PublicKey.FromProtobuf(message.Pubkey.Span);
            claimed = PeerId.FromBytes(message.Id.Span);
        }
        catch (FormatException ex)
        {
            throw new InvalidDataException($"The plaintext Exchange carries an invalid id or key: {ex.Message}", ex);
        }

        PeerId derived = key.ToPeerId();
        return claimed == derived
            ? new PlaintextResult(derived, key)
            : throw new InvalidDataException($"The plaintext Exchange claims the id {claimed}, but its key is that of {derived}.");
    }
}
