using CircuitRelay.Internal;
using System.Diagnostics.CodeAnalysis;
using System.Net;
using CircuitRelay.Abstractions;

namespace CircuitRelay.InMemory;

/// <summary>
/// A set of <see cref="InMemoryHost"/>s in one process that can dial each other directly. Each host
/// listens on <c>/ip4/&lt;ip&gt;/tcp/&lt;port&gt;</c>; hosts get distinct ips (10.0.0.1, 10.0.0.2, …)
/// unless the caller chooses one, and several hosts may share an ip (to exercise per-ip limits).
/// </summary>
/// <remarks>
/// The network generates no keys: every host is created with an identity and a signature verifier
/// supplied by the caller.
/// </remarks>
public sealed class InMemoryNetwork : IAsyncDisposable
{
    private const int FirstListenPort = 4001;
    private const int FirstEphemeralPort = 49152;

    private readonly Lock _sync = new();
    private readonly Dictionary<PeerId, InMemoryHost> _hosts = [];
    private readonly List<InMemoryHost> _created = [];
    private readonly HashSet<IPAddress> _usedAddresses = [];
    private uint _nextAutomaticAddress = 1;
    private int _nextListenPort = FirstListenPort;
    private int _nextEphemeralPort = FirstEphemeralPort - 1;
    private long _nextConnectionId;
    private bool _disposed;
    private Task? _disposal;

    /// <summary>Creates an empty network.</summary>
    /// <param name="timeProvider">The clock shared by the network's users; <see cref="TimeProvider.System"/> when <see langword="null"/>.</param>
    public InMemoryNetwork(TimeProvider? timeProvider = null)
    {
        TimeProvider = timeProvider ?? TimeProvider.System;
    }

    /// <summary>The network's clock (for components built on its hosts).</summary>
    public TimeProvider TimeProvider { get; }

    /// <summary>Creates a host that listens on <c>/ip4/&lt;ip&gt;/tcp/&lt;unique port&gt;</c>.</summary>
    /// <param name="identity">The host's identity; its peer id must be unique in the network.</param>
    /// <param name="verifier">The verifier the host exposes as <see cref="ILibp2pHost.SignatureVerifier"/>.</param>
    /// <param name="ipAddress">The host's ip (IPv4 or IPv6 text), or <see langword="null"/> for a fresh 10.x.y.z address.</param>
    /// <returns>The host.</returns>
    /// <exception cref="FormatException"><paramref name="ipAddress"/> is not an ip address.</exception>
    /// <exception cref="ArgumentException">A host with the same peer id exists.</exception>
    public InMemoryHost CreateHost(ILocalIdentity identity, ISignatureVerifier verifier, string? ipAddress = null)
    {
        ArgumentNullException.ThrowIfNull(identity);
        ArgumentNullException.ThrowIfNull(verifier);
        IPAddress? requested = null;
        if (ipAddress is not null && !IPAddress.TryParse(ipAddress, out requested))
        {
            throw new FormatException($"'{ipAddress}' is not an ip address.");
        }

        PeerId peerId = identity.PeerId ?? throw new ArgumentException("The identity has no peer id.", nameof(identity));
        lock (_sync)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_hosts.ContainsKey(peerId))
            {
                throw new ArgumentException($"The network already has a host with peer id {peerId}.", nameof(identity));
            }

            if (_nextListenPort >= FirstEphemeralPort)
            {
                throw new InvalidOperationException("The network has run out of listen ports.");
            }

            IPAddress ip = requested ?? NextAutomaticAddress();
            _usedAddresses.Add(ip);
            var host = new InMemoryHost(this, identity, verifier, ip, Multiaddr.FromIPEndPoint(new IPEndPoint(ip, _nextListenPort++)));
            _hosts.Add(peerId, host);
            _created.Add(host);
            return host;
        }
    }

    /// <summary>Disposes every host created by the network (idempotent).</summary>
    /// <returns>A task that completes when every host has been disposed.</returns>
    public ValueTask DisposeAsync()
    {
        lock (_sync)
        {
            _disposed = true;
            _disposal ??= DisposeCoreAsync([.. _created]);
            return new ValueTask(_disposal);
        }
    }

    /// <summary>Finds the live host with <paramref name="peer"/>'s id.</summary>
    internal bool TryGetHost(PeerId peer, [NotNullWhen(true)] out InMemoryHost? host)
    {
        lock (_sync)
        {
            return _hosts.TryGetValue(peer, out host);
        }
    }

    /// <summary>A disposed host leaves the network: it can no longer be dialed.</summary>
    internal void Remove(InMemoryHost host)
    {
        lock (_sync)
        {
            if (_hosts.TryGetValue(host.PeerId, out InMemoryHost? current) && ReferenceEquals(current, host))
            {
                _hosts.Remove(host.PeerId);
            }
        }
    }

    /// <summary>The next source port for a dial (49152–65535, cycling).</summary>
    internal int NextEphemeralPort()
    {
        lock (_sync)
        {
            _nextEphemeralPort = _nextEphemeralPort >= ushort.MaxValue ? FirstEphemeralPort : _nextEphemeralPort + 1;
            return _nextEphemeralPort;
        }
    }

    /// <summary>A network-unique connection id.</summary>
    internal string NextConnectionId() => $"mem-{Interlocked.Increment(ref _nextConnectionId)}";

    private static async Task DisposeCoreAsync(InMemoryHost[] hosts) =>
        await Task.WhenAll(hosts.Select(h => h.DisposeAsync().AsTask())).ConfigureAwait(false);

    private IPAddress NextAutomaticAddress()
    {
        while (true)
        {
            uint n = _nextAutomaticAddress++;
            byte[] bytes = [10, (byte)(n >> 16), (byte)(n >> 8), (byte)n];
            if (bytes[3] is 0 or 255)
            {
                continue;
            }

            var candidate = new IPAddress(bytes);
            if (!_usedAddresses.Contains(candidate))
            {
                return candidate;
            }
        }
    }
}
