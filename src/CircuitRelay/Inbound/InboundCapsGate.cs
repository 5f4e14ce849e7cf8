using System.Diagnostics.Metrics;
using CircuitRelay.Abstractions;
using CircuitRelay.Adverts;
using CircuitRelay.Diagnostics;
using Microsoft.Extensions.Logging;

namespace CircuitRelay.Inbound;

/// <summary>
/// Inbound caps through the host's <see cref="IInboundGateFeature"/>: at most <see cref="InboundCapsOptions.PerRelay"/>
/// relayed connections through one relay (checked when the relay asks us to accept a circuit, so the refusal goes back
/// on the wire), and, while the node is private, at most <see cref="InboundCapsOptions.WhilePrivate"/> inbound direct
/// connections. Circuits through a relay we hold no reservation with are already refused by the relay client
/// (<c>NO_RESERVATION</c>). Each refusal is logged with its reason and counted (<c>libp2p.inbound.refused</c>, by reason).
/// </summary>
public sealed class InboundCapsGate : IInboundGate, IDisposable
{
    private readonly IConnectionsFeature _connections;
    private readonly InboundCapsOptions _options;
    private readonly Func<NodeRole> _role;
    private readonly ILogger _logger;
    private readonly Counter<long> _refused;
    private readonly IDisposable _registration;

    /// <summary>Creates the gate and adds it to <paramref name="host"/>'s gates; disposing removes it.</summary>
    /// <param name="host">The host (needs <see cref="IInboundGateFeature"/> and <see cref="IConnectionsFeature"/>).</param>
    /// <param name="options">The caps.</param>
    /// <param name="role">The node's role now (AutoNAT's, or a forced one).</param>
    /// <param name="loggerFactory">Where refusals are logged.</param>
    /// <param name="meterFactory">Where refusals are counted.</param>
    public InboundCapsGate(ILibp2pHost host, InboundCapsOptions options, Func<NodeRole> role, ILoggerFactory loggerFactory, IMeterFactory meterFactory)
    {
        ArgumentNullException.ThrowIfNull(host);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(role);
        ArgumentNullException.ThrowIfNull(loggerFactory);
        ArgumentNullException.ThrowIfNull(meterFactory);
        options.Validate();
        _connections = host.GetRequiredFeature<IConnectionsFeature>("inbound caps");
        _options = options;
        _role = role;
        _logger = loggerFactory.CreateLogger<InboundCapsGate>();
        _refused = RelayMetrics.CreateMeter(meterFactory).CreateCounter<long>("libp2p.inbound.refused", "{connection}", "Inbound connections and circuits refused by the inbound caps, by reason (per_relay, while_private).");
        _registration = host.GetRequiredFeature<IInboundGateFeature>("inbound caps").AddGate(this);
    }

    /// <inheritdoc />
    public InboundDecision Check(InboundAttempt attempt)
    {
        ArgumentNullException.ThrowIfNull(attempt);
        if (attempt.Stage == InboundStage.Circuit && attempt.Relay is { } relay && _options.PerRelay > 0)
        {
            int through = _connections.Connections.Count(c => c.IsRelayed && c.Relay == relay && c.Direction == ConnectionDirection.Inbound);
            if (through >= _options.PerRelay)
            {
                return Refuse("per_relay", attempt, $"{through} relayed connections through {relay} already (PerRelay {_options.PerRelay})", RelayStatus.ResourceLimitExceeded);
            }
        }

        if (attempt.Stage == InboundStage.Secured && !attempt.IsRelayed && _options.WhilePrivate > 0 && _role() == NodeRole.Private)
        {
            int inbound = _connections.Connections.Count(c => !c.IsRelayed && c.Direction == ConnectionDirection.Inbound && !ReferenceEquals(c, attempt.Connection));
            if (inbound >= _options.WhilePrivate)
            {
                return Refuse("while_private", attempt, $"{inbound} inbound connections while private already (WhilePrivate {_options.WhilePrivate})");
            }
        }

        return InboundDecision.Allow;
    }

    /// <summary>Removes the gate from the host.</summary>
    public void Dispose() => _registration.Dispose();

    private InboundDecision Refuse(string reason, InboundAttempt attempt, string explanation, RelayStatus status = RelayStatus.PermissionDenied)
    {
        _refused.Add(1, new KeyValuePair<string, object?>("reason", reason));
        InboundCapsLog.Refused(_logger, attempt.RemotePeer, attempt.RemoteAddress, explanation);
        return InboundDecision.Deny(explanation, status);
    }
}

/// <summary>Log events of the inbound caps (ids 700–709).</summary>
internal static partial class InboundCapsLog
{
    [LoggerMessage(700, LogLevel.Information, "Inbound attempt from {Peer} at {Address} refused: {Reason}")]
    public static partial void Refused(ILogger logger, PeerId? peer, Multiaddr address, string reason);
}
