namespace CircuitRelay.Abstractions;

/// <summary>
/// A host feature: gates asked before an inbound connection, relayed connection or stream is accepted. Inbound
/// caps (per relay, unknown relays, a private node's cap) plug in here.
/// </summary>
/// <remarks>
/// The host asks at <see cref="InboundStage.Connection"/> (a transport connection before its handshake: no peer
/// yet), at <see cref="InboundStage.Secured"/> (after the handshake: the peer is known) and at
/// <see cref="InboundStage.Stream"/>; the relay client asks at <see cref="InboundStage.Circuit"/> before it answers
/// a relay's STOP CONNECT, so a refused circuit is refused on the wire. The first gate that denies wins.
/// </remarks>
public interface IInboundGateFeature
{
    /// <summary>Adds a gate; disposing the result removes it.</summary>
    IDisposable AddGate(IInboundGate gate);

    /// <summary>Asks every gate about <paramref name="attempt"/>; the first denial wins.</summary>
    InboundDecision Check(InboundAttempt attempt);
}

/// <summary>Decides whether an inbound connection, circuit or stream may proceed. Must be fast and must not block.</summary>
public interface IInboundGate
{
    /// <summary>Allows or denies <paramref name="attempt"/>.</summary>
    InboundDecision Check(InboundAttempt attempt);
}

/// <summary>Where an inbound attempt stands when a gate is asked.</summary>
public enum InboundStage
{
    /// <summary>A transport accepted a connection; no handshake yet, so the peer is unknown.</summary>
    Connection,

    /// <summary>The security handshake finished: the peer is authenticated.</summary>
    Secured,

    /// <summary>A relay asks us to accept a circuit (STOP CONNECT); the peer is the relay's claim.</summary>
    Circuit,

    /// <summary>A peer opened a stream for a protocol we serve.</summary>
    Stream,
}

/// <summary>What a gate is asked about.</summary>
public sealed class InboundAttempt
{
    /// <summary>Creates an attempt.</summary>
    public InboundAttempt(InboundStage stage, Multiaddr remoteAddress)
    {
        ArgumentNullException.ThrowIfNull(remoteAddress);
        Stage = stage;
        RemoteAddress = remoteAddress;
    }

    /// <summary>Where the attempt stands.</summary>
    public InboundStage Stage { get; }

    /// <summary>The remote address (a circuit address for relayed connections).</summary>
    public Multiaddr RemoteAddress { get; }

    /// <summary>The remote peer, when known (authenticated from <see cref="InboundStage.Secured"/> on, claimed by the relay at <see cref="InboundStage.Circuit"/>).</summary>
    public PeerId? RemotePeer { get; init; }

    /// <summary>The relay of a relayed attempt; <see langword="null"/> for a direct one.</summary>
    public PeerId? Relay { get; init; }

    /// <summary>The protocol of a <see cref="InboundStage.Stream"/> attempt.</summary>
    public string? Protocol { get; init; }

    /// <summary>The connection, from <see cref="InboundStage.Secured"/> on.</summary>
    public ConnectionInfo? Connection { get; init; }

    /// <summary>Whether the attempt runs over a relay.</summary>
    public bool IsRelayed => Relay is not null;
}

/// <summary>A gate's answer.</summary>
public readonly record struct InboundDecision
{
    private InboundDecision(bool allowed, string? reason, RelayStatus status)
    {
        IsAllowed = allowed;
        Reason = reason;
        Status = status;
    }

    /// <summary>Let it through.</summary>
    public static InboundDecision Allow { get; } = new(true, null, RelayStatus.Ok);

    /// <summary>Whether the attempt may proceed.</summary>
    public bool IsAllowed { get; }

    /// <summary>Why it was denied (for logs and metrics); <see langword="null"/> when allowed.</summary>
    public string? Reason { get; }

    /// <summary>The status a refused circuit is answered with (default <see cref="RelayStatus.PermissionDenied"/>).</summary>
    public RelayStatus Status { get; }

    /// <summary>Refuses, saying why.</summary>
    /// <param name="reason">A short reason for logs and metrics tags (<c>per-relay-cap</c>).</param>
    /// <param name="status">The status for a refused circuit.</param>
    public static InboundDecision Deny(string reason, RelayStatus status = RelayStatus.PermissionDenied)
    {
        ArgumentException.ThrowIfNullOrEmpty(reason);
        return new InboundDecision(false, reason, status);
    }
}
