using CircuitRelay.Crypto;
using Google.Protobuf;
using IdentifyMessage = CircuitRelay.Protocols.Identify.Pb.Identify;

namespace CircuitRelay.Protocols.Identify;

/// <summary>What a peer said about itself in Identify (digest 8.2), validated and decoded.</summary>
/// <remarks>
/// Returned by <see cref="IdentifyService.IdentifyAsync"/>. Unlike the host's <see cref="Abstractions.PeerRecord"/>
/// it also carries the peer's public key (always checked against its peer id) and the address it observes us at.
/// Only the Identify service creates it.
/// </remarks>
public sealed record IdentifyInfo
{
    /// <summary>Creates the information.</summary>
    /// <param name="publicKey">The peer's identity key, when it sent one.</param>
    /// <param name="listenAddresses">The addresses the peer listens on.</param>
    /// <param name="observedAddress">Our end of the connection as the peer sees it.</param>
    /// <param name="protocols">The protocols the peer accepts inbound streams for.</param>
    /// <param name="agentVersion">The peer's "name/version".</param>
    /// <param name="protocolVersion">The peer's protocol family.</param>
    internal IdentifyInfo(
        PublicKey? publicKey,
        IReadOnlyList<Multiaddr> listenAddresses,
        Multiaddr? observedAddress,
        IReadOnlyList<string> protocols,
        string? agentVersion,
        string? protocolVersion)
    {
        PublicKey = publicKey;
        ListenAddresses = listenAddresses;
        ObservedAddress = observedAddress;
        Protocols = protocols;
        AgentVersion = agentVersion;
        ProtocolVersion = protocolVersion;
    }

    /// <summary>The peer's identity key, when it sent one (always checked against its peer id).</summary>
    public PublicKey? PublicKey { get; }

    /// <summary>The addresses the peer listens on, without <c>/p2p/&lt;id&gt;</c> (undecodable entries are dropped).</summary>
    public IReadOnlyList<Multiaddr> ListenAddresses { get; }

    /// <summary>Our end of the connection as the peer sees it, when sent and decodable.</summary>
    public Multiaddr? ObservedAddress { get; }

    /// <summary>The protocols the peer accepts inbound streams for.</summary>
    public IReadOnlyList<string> Protocols { get; }

    /// <summary>The peer's "name/version", when sent.</summary>
    public string? AgentVersion { get; }

    /// <summary>The peer's protocol family (e.g. <c>ipfs/0.1.0</c>), when sent.</summary>
    public string? ProtocolVersion { get; }

    /// <summary>
    /// Applies a partial update (an Identify push): every field the update carries replaces ours, every
    /// field it lacks (absent, or an empty list) is kept. Missing fields must be ignored (digest 8.1).
    /// </summary>
    /// <param name="update">The newer information.</param>
    /// <returns>The merged information.</returns>
    internal IdentifyInfo MergeWith(IdentifyInfo update)
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
