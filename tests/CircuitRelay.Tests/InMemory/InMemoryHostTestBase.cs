using CircuitRelay.InMemory;

namespace CircuitRelay.Tests.InMemory;

/// <summary>Gives each test a fresh network, disposed (and awaited) after the test.</summary>
public abstract class InMemoryHostTestBase : IAsyncLifetime
{
    internal InMemoryNetwork Network { get; } = new();

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync() => await Network.DisposeAsync().Within();
}
