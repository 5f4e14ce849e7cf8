using CircuitRelay.Abstractions;
using CircuitRelay.Adverts;
using CircuitRelay.AutoNat;
using CircuitRelay.AutoRelay;
using CircuitRelay.Client;
using CircuitRelay.Server;

namespace CircuitRelay.Hosting;

/// <summary>
/// The running node of an application (resolve it from the service provider): its host and the parts that were added.
/// The parts exist from the application's start until its stop; <see cref="Started"/> completes once they all run.
/// </summary>
public sealed class CircuitRelayNode
{
    private readonly TaskCompletionSource _started = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private ILibp2pHost? _host;
    private RelayClient? _client;

    internal CircuitRelayNode()
    {
    }

    /// <summary>Completes when the node runs (faults when its start failed).</summary>
    public Task Started => _started.Task;

    /// <summary>The host.</summary>
    /// <exception cref="InvalidOperationException">The node has not started.</exception>
    public ILibp2pHost Host => _host ?? throw NotStarted();

    /// <summary>The relay client (reservations, circuits through relays).</summary>
    /// <exception cref="InvalidOperationException">The node has not started.</exception>
    public RelayClient Client => _client ?? throw NotStarted();

    /// <summary>The relay server, once the node served as a relay (null before, and without <c>AddRelayServer</c>).</summary>
    public RelayServer? Relay => Roles?.Relay;

    /// <summary>The AutoRelay worker (with <c>AddAutoRelay</c>).</summary>
    public AutoRelayService? AutoRelay { get; private set; }

    /// <summary>AutoNAT (with <c>AddAutoNat</c>).</summary>
    public AutoNatService? AutoNat { get; private set; }

    /// <summary>What applies the role: the relay service and AutoRelay on and off.</summary>
    public RoleCoordinator? Roles { get; private set; }

    /// <summary>The node's role now.</summary>
    public NodeRole Role => Roles?.Role ?? NodeRole.Unknown;

    internal void SetRunning(ILibp2pHost host, RelayClient client, AutoRelayService? autoRelay, AutoNatService? autoNat, RoleCoordinator roles)
    {
        _host = host;
        _client = client;
        AutoRelay = autoRelay;
        AutoNat = autoNat;
        Roles = roles;
        _started.TrySetResult();
    }

    internal void SetFailed(Exception error) => _started.TrySetException(error);

    private static InvalidOperationException NotStarted() => new("The CircuitRelay node has not started: start the application (or await CircuitRelayNode.Started) first.");
}
