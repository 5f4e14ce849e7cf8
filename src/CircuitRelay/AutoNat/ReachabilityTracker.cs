using System.Net;
using CircuitRelay.Adverts;
using Microsoft.Extensions.Logging;

namespace CircuitRelay.AutoNat;

/// <summary>
/// The node's reachability from AutoNAT results, without flapping: it moves to <see cref="NodeRole.Public"/> or
/// <see cref="NodeRole.Private"/> only after <see cref="Confidence"/> agreeing results in a row from servers on
/// distinct networks (IPv4 /24, IPv6 /48), in both directions. A disagreeing result breaks the run, a second result
/// from a network already in the run does not extend it, and <see cref="AutoNatStatus.DialRefused"/> (or any other
/// non-answer) carries no signal, so alternating results never flip the state. Each change is logged with its reason.
/// </summary>
/// <remarks>go-libp2p flips to public on a single result and is known to flap (its issues #2046, #2602).</remarks>
public sealed class ReachabilityTracker
{
    private readonly ILogger _logger;
    private readonly Multiaddr? _address;
    private readonly Lock _lock = new();
    private readonly List<string> _run = [];
    private bool _runSaysPublic;
    private NodeRole _state = NodeRole.Unknown;

    /// <summary>Creates the tracker.</summary>
    /// <param name="confidence">Agreeing results from distinct networks needed to change state (at least 1; default 3).</param>
    /// <param name="loggerFactory">Where the decisions are logged.</param>
    public ReachabilityTracker(ILoggerFactory loggerFactory, int confidence = 3)
        : this(loggerFactory, confidence, address: null)
    {
    }

    /// <summary>A tracker of one address (AutoNAT v2), whose changes are logged as the address's.</summary>
    internal ReachabilityTracker(ILoggerFactory loggerFactory, int confidence, Multiaddr? address)
    {
        ArgumentNullException.ThrowIfNull(loggerFactory);
        ArgumentOutOfRangeException.ThrowIfLessThan(confidence, 1);
        Confidence = confidence;
        _address = address;
        _logger = loggerFactory.CreateLogger<ReachabilityTracker>();
    }

    /// <summary>Raised after the state changed (with the new state).</summary>
    public event EventHandler<NodeRole>? ReachabilityChanged;

    /// <summary>Agreeing results from distinct networks needed to change state.</summary>
    public int Confidence { get; }

    /// <summary>The current state.</summary>
    public NodeRole State
    {
        get
        {
            lock (_lock)
            {
                return _state;
            }
        }
    }

    /// <summary>The agreeing results in the current run (distinct networks), toward public or private.</summary>
    public (int Count, bool TowardPublic) Run
    {
        get
        {
            lock (_lock)
            {
                return (_run.Count, _runSaysPublic);
            }
        }
    }

    /// <summary>Records what the server at <paramref name="serverAddress"/> answered.</summary>
    /// <returns>Whether the state changed.</returns>
    public bool Record(IPAddress serverAddress, AutoNatStatus status)
    {
        ArgumentNullException.ThrowIfNull(serverAddress);
        if (status is not (AutoNatStatus.Ok or AutoNatStatus.DialError))
        {
            return false; // refused, bad request, internal error: no signal
        }

        bool saysPublic = status == AutoNatStatus.Ok;
        string network = Internal.Subnet.Of(serverAddress);
        NodeRole previous, current;
        string explanation;
        lock (_lock)
        {
            if (_run.Count > 0 && _runSaysPublic != saysPublic)
            {
                _run.Clear();
            }

            _runSaysPublic = saysPublic;
            if (!_run.Contains(network))
            {
                _run.Add(network);
            }

            previous = _state;
            NodeRole target = saysPublic ? NodeRole.Public : NodeRole.Private;
            if (_run.Count < Confidence || _state == target)
            {
                return false;
            }

            _state = target;
            current = target;
            explanation = $"{_run.Count} agreeing results in a row from distinct networks ({string.Join(", ", _run)})";
            _run.Clear();
        }

        if (_address is null)
        {
            AutoNatLog.ReachabilityChanged(_logger, previous, current, explanation);
        }
        else
        {
            AutoNatLog.AddressReachabilityChanged(_logger, _address, previous, current, explanation);
        }

        ReachabilityChanged?.Invoke(this, current);
        return true;
    }
}
