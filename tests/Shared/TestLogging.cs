using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;

namespace CircuitRelay.Testing;

/// <summary>
/// Logging for one test: Microsoft's <see cref="FakeLogCollector"/> behind a logger factory (every level enabled),
/// so a test of a failure path can assert the event the code logged alongside the behaviour.
/// </summary>
public sealed class TestLogging : IDisposable
{
    private readonly FakeLoggerProvider _provider;

    public TestLogging()
    {
        _provider = new FakeLoggerProvider(Collector);
        Factory = LoggerFactory.Create(builder => builder.SetMinimumLevel(LogLevel.Trace).AddProvider(_provider));
    }

    /// <summary>Every record logged through <see cref="Factory"/> or <see cref="CreateLogger"/>.</summary>
    public FakeLogCollector Collector { get; } = new();

    public ILoggerFactory Factory { get; }

    public ILogger CreateLogger<T>() => Factory.CreateLogger<T>();

    /// <summary>The records logged so far with the event id <paramref name="eventId"/>.</summary>
    public IReadOnlyList<FakeLogRecord> Events(int eventId) => [.. Collector.GetSnapshot().Where(r => r.Id.Id == eventId)];

    /// <summary>
    /// Asserts that exactly one record with <paramref name="eventId"/>'s id was logged, under its name and at
    /// <paramref name="level"/>, and returns it (for its structured state).
    /// </summary>
    public FakeLogRecord ShouldHaveLoggedOnce(EventId eventId, LogLevel level)
    {
        IReadOnlyList<FakeLogRecord> matching = Events(eventId.Id);
        matching.Should().ContainSingle("event {0} ({1}) is logged once; the log was:{2}", eventId.Id, eventId.Name, Describe());
        FakeLogRecord record = matching[0];
        record.Id.Name.Should().Be(eventId.Name);
        record.Level.Should().Be(level);
        return record;
    }

    /// <summary>
    /// Asserts that at least one record with <paramref name="eventId"/>'s id was logged, each under its name and at
    /// <paramref name="level"/>, and returns them.
    /// </summary>
    public IReadOnlyList<FakeLogRecord> ShouldHaveLogged(EventId eventId, LogLevel level)
    {
        IReadOnlyList<FakeLogRecord> matching = Events(eventId.Id);
        matching.Should().NotBeEmpty("event {0} ({1}) is logged; the log was:{2}", eventId.Id, eventId.Name, Describe());
        matching.Should().OnlyContain(r => r.Id.Name == eventId.Name && r.Level == level);
        return matching;
    }

    /// <summary>Asserts that no record with <paramref name="eventId"/>'s id was logged.</summary>
    public void ShouldNotHaveLogged(EventId eventId)
        => Events(eventId.Id).Should().BeEmpty("event {0} ({1}) is not logged; the log was:{2}", eventId.Id, eventId.Name, Describe());

    public void Dispose()
    {
        Factory.Dispose();
        _provider.Dispose();
    }

    private string Describe()
        => string.Concat(Collector.GetSnapshot().Select(r => $"{Environment.NewLine}  {r.Level} {r.Id.Id} {r.Id.Name}: {r.Message}"));
}
