using CircuitRelay.Crypto;
using Google.Protobuf;
using IdentifyMessage = CircuitRelay.ReferenceHost.Identify.Pb.Identify;

namespace CircuitRelay.ReferenceHost.Identify;

/// <summary>What a peer told about itself in Identify (digest 8.2), validated and decoded.</summary>
/// <param name="PublicKey">The peer's identity key, when it sent one (always checked against its peer id).</param>
/// <param name="ListenAddresses">The addresses the peer listens on (undecodable entries are dropped).</param>
/// <param name="ObservedAddress">Our end of the connection as the peer sees it, when sent and decodable.</param>
/// <param name="Protocols">The protocols the peer accepts inbound streams for.</param>
/// <param name="AgentVersion">The peer's "name/version", when sent.</param>
/// <param name="ProtocolVersion">The peer's protocol family (e.g. <c>ipfs/0.1.0</c>), when sent.</param>
internal sealed record IdentifyInfo(
    PublicKey? PublicKey,
    IReadOnlyList<Multiaddr> ListenAddresses,
    Multiaddr? ObservedAddress,
    IReadOnlyList<string> Protocols,
    string? AgentVersion,
    string? ProtocolVersion)
{
    /// <summary>
    /// Applies a partial update (an Identify push): every field the update carries replaces ours, every
    /// field it lacks (absent, or an empty list) is kept. Missing fields must be ignored (digest 8.1).
    /// </summary>
    /// <param name="update">The newer information.</param>
    /// <returns>The merged information.</returns>
    public IdentifyInfo MergeWith(IdentifyInfo update)
    {
        ArgumentNullException.ThrowIfNull(update);
        return new IdentifyInfo(
            update.PublicKey ?? PublicKey,
            update.ListenAddresses.Count > 0 ? update.ListenAddresses : ListenAddresses,
            update.ObservedAddress ?? ObservedAddress,
            update.Protocols.Count > 0 ? update.Protocols : Protocols,
            update.AgentVersion ?? AgentVersion,
            update.ProtocolVersion ?? ProtocolVersion);
    }

    /// <summary>
    /// Decodes a (merged) Identify message sent by <paramref name="sender"/>. Undecodable listen
    /// addresses and an undecodable observed address are ignored, as go does.
    /// </summary>
    /// <param name="message">The message.</param>
    /// <param name="sender">The authenticated peer on the other end of the connection.</param>
    /// <returns>The decoded information.</returns>
    /// <exception cref="InvalidDataException">The public key is malformed or is not <paramref name="sender"/>'s key.</exception>
    internal static IdentifyInfo FromMessage(IdentifyMessage message, PeerId sender)
    {
        ArgumentNullException.ThrowIfNull(message);
        ArgumentNullException.ThrowIfNull(sender);
        PublicKey? key = null;
        if (message.HasPublicKey)
        {
            try
            {
                key = PublicKey.FromProtobuf(message.PublicKey.Span);
            }
            catch (FormatException ex)
            {
                throw new InvalidDataException($"The Identify message from {sender} carries a malformed public key: {ex.Message}", ex);
            }

            PeerId keyPeer = key.ToPeerId();
            if (!keyPeer.Equals(sender))
            {
                throw new InvalidDataException($"The Identify message from {sender} carries the public key of {keyPeer}.");
            }
        }

        var listen = new List<Multiaddr>(message.ListenAddrs.Count);
        foreach (ByteString bytes in message.ListenAddrs)
        {
            if (Multiaddr.TryFromBytes(bytes.Span, out Multiaddr? address) && !address.IsEmpty && !listen.Contains(address))
            {
                listen.Add(address);
            }
        }

        Multiaddr? observed = null;
        if (message.HasObservedAddr && Multiaddr.TryFromBytes(message.ObservedAddr.Span, out Multiaddr? parsed) && !parsed.IsEmpty)
        {
            observed = parsed;
        }

        return new IdentifyInfo(
            key,
            listen.AsReadOnly(),
            observed,
            message.Protocols.ToArray(),
            message.HasAgentVersion ? message.AgentVersion : null,
            message.HasProtocolVersion ? message.ProtocolVersion : null);
    }
}
