namespace CircuitRelay.Interop.Tests.Harness;

/// <summary>
/// An unlimited relay of each implementation, started on first use and shared by the tests that only
/// need "a relay". A relay found dead is replaced, so one crash is reported by the test that caused it
/// and does not cascade.
/// </summary>
public sealed class SharedRelays : IAsyncLifetime
{
    private readonly SemaphoreSlim _lock = new(1, 1);
    private readonly Dictionary<Impl, RelayPeer> _relays = [];
    private readonly List<RelayPeer> _retired = [];

    /// <summary>The running unlimited relay of <paramref name="impl"/>.</summary>
    internal async Task<RelayPeer> GetAsync(Impl impl)
    {
        await _lock.WaitAsync();
        try
        {
            if (_relays.TryGetValue(impl, out var relay))
            {
                if (!relay.Process.HasExited)
                {
                    return relay;
                }

                _retired.Add(relay);
            }

            // No test output helper: the relay outlives the test that started it.
            relay = await Peers.StartRelayAsync(impl, output: null);
            _relays[impl] = relay;
            return relay;
        }
        finally
        {
            _lock.Release();
        }
    }

    /// <summary>Nothing to do: relays start on first use.</summary>
    public Task InitializeAsync() => Task.CompletedTask;

    /// <summary>Stops every relay started.</summary>
    public async Task DisposeAsync()
    {
        foreach (var relay in _relays.Values.Concat(_retired))
        {
            await relay.Process.DisposeAsync();
        }

        _lock.Dispose();
    }
}
