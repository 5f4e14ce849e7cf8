using System.Security.Cryptography;
using CircuitRelay.Abstractions;
using CircuitRelay.Client;
using CircuitRelay.Crypto;
using CircuitRelay.Server;
using CircuitRelay.Transport;
using Microsoft.Extensions.Logging.Abstractions;

namespace CircuitRelay.ReferenceHost.Tests.Host;

/// <summary>Hosts on loopback TCP (and relay pieces) that are disposed with the kit, plus an echo protocol.</summary>
internal sealed class HostTestKit : IAsyncDisposable
{
    public const string Echo = "/echo/1.0.0";

    private readonly List<IAsyncDisposable> _owned = [];

    public TestMeterFactory Meters { get; } = new();

    public async Task<Libp2pHost> StartAsync(bool listen = true, Action<Libp2pHostOptions>? configure = null)
    {
        var options = new Libp2pHostOptions();
        if (listen)
        {
            options.ListenAddresses.Add("/ip4/127.0.0.1/tcp/0");
        }

        configure?.Invoke(options);
        Libp2pHost host = await Libp2pHost.StartAsync(KeyIdentity.Generate(), options, NullLoggerFactory.Instance).Within();
        host.SetStreamHandler(Echo, EchoAsync, new StreamHandlerOptions { AllowLimitedConnection = true });
        _owned.Add(host);
        return host;
    }

    /// <summary>Starts a relay client on <paramref name="host"/> and adds its circuit transport to the host.</summary>
    public RelayClient AddCircuitTransport(Libp2pHost host)
    {
        var client = new RelayClient(host, new RelayClientOptions(), NullLoggerFactory.Instance, Meters, TimeProvider.System);
        _owned.Insert(0, client);
        client.Start();
        host.AddTransport(new CircuitTransport(client));
        return client;
    }

    /// <summary>A host running an unlimited relay server.</summary>
    public async Task<(Libp2pHost Host, RelayServer Relay)> StartRelayAsync()
    {
        Libp2pHost host = await StartAsync();
        var relay = new RelayServer(host, new RelayServerOptions { CircuitDataLimit = 0, CircuitDurationLimit = TimeSpan.Zero }, NullLoggerFactory.Instance, Meters, TimeProvider.System);
        _owned.Insert(0, relay);
        relay.Start();
        return (host, relay);
    }

    public T Own<T>(T disposable)
        where T : IAsyncDisposable
    {
        _owned.Insert(0, disposable);
        return disposable;
    }

    public static Multiaddr AddressOf(Libp2pHost host) => host.ListenAddresses[0].WithPeerId(host.Identity.PeerId);

    public static async Task<bool> EchoRoundTripAsync(ILibp2pHost from, PeerId to, int size, bool allowLimited = false)
    {
        ILibp2pStream stream = await from.OpenStreamAsync(to, Echo, new OpenStreamOptions { AllowLimitedConnection = allowLimited });
        return await EchoOverAsync(stream, size);
    }

    public static async Task<bool> EchoOverAsync(ILibp2pStream stream, int size)
    {
        byte[] payload = RandomNumberGenerator.GetBytes(size);
        Task send = Task.Run(async () =>
        {
            await stream.Output.WriteAsync(payload);
            await stream.Output.CompleteAsync();
        });
        using var received = new MemoryStream();
        while (true)
        {
            var result = await stream.Input.ReadAsync();
            foreach (ReadOnlyMemory<byte> segment in result.Buffer)
            {
                received.Write(segment.Span);
            }

            stream.Input.AdvanceTo(result.Buffer.End);
            if (result.IsCompleted)
            {
                break;
            }
        }

        await send;
        await stream.DisposeAsync();
        return received.ToArray().AsSpan().SequenceEqual(payload);
    }

    public static async Task EchoAsync(ILibp2pStream stream, CancellationToken cancellationToken)
    {
        try
        {
            await stream.Input.CopyToAsync(stream.Output, cancellationToken);
            await stream.Output.CompleteAsync();
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException)
        {
            stream.Abort();
        }
        finally
        {
            await stream.DisposeAsync();
        }
    }

    /// <summary>A task that completes the first time <paramref name="host"/> raises <see cref="IAddressesFeature.AddressesChanged"/> and <paramref name="until"/> holds.</summary>
    public static Task WhenAddressesAsync(IAddressesFeature host, Func<IAddressesFeature, bool> until)
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        host.AddressesChanged += (_, _) =>
        {
            if (until(host))
            {
                done.TrySetResult();
            }
        };
        if (until(host))
        {
            done.TrySetResult();
        }

        return done.Task;
    }

    public async ValueTask DisposeAsync()
    {
        foreach (IAsyncDisposable owned in _owned)
        {
            await owned.DisposeAsync();
        }

        Meters.Dispose();
    }
}

/// <summary>A gate that records what it is asked and denies the stages it is told to.</summary>
internal sealed class RecordingGate(Func<InboundAttempt, InboundDecision> decide) : IInboundGate
{
    private readonly List<InboundAttempt> _attempts = [];

    public IReadOnlyList<InboundAttempt> Attempts
    {
        get
        {
            lock (_attempts)
            {
                return [.. _attempts];
            }
        }
    }

    public static RecordingGate Denying(InboundStage stage, RelayStatus status = RelayStatus.PermissionDenied)
        => new(a => a.Stage == stage ? InboundDecision.Deny("test-" + stage.ToString().ToLowerInvariant(), status) : InboundDecision.Allow);

    public InboundDecision Check(InboundAttempt attempt)
    {
        lock (_attempts)
        {
            _attempts.Add(attempt);
        }

        return decide(attempt);
    }
}
