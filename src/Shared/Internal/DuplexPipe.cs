using System.IO.Pipelines;

namespace CircuitRelay.Internal;

/// <summary>A plain <see cref="IDuplexPipe"/> made of a reader and a writer.</summary>
internal sealed class DuplexPipe(PipeReader input, PipeWriter output) : IDuplexPipe
{
    /// <summary>Options of the pipes behind a direct in-memory connection: 1 MiB in flight per direction.</summary>
    public static PipeOptions RawOptions { get; } = new(
        pauseWriterThreshold: 1024 * 1024,
        resumeWriterThreshold: 512 * 1024,
        useSynchronizationContext: false);

    /// <inheritdoc />
    public PipeReader Input { get; } = input;

    /// <inheritdoc />
    public PipeWriter Output { get; } = output;

    /// <summary>Creates two crossed duplex pipes: what one side writes, the other reads.</summary>
    public static (IDuplexPipe First, IDuplexPipe Second) CreatePair(PipeOptions? options = null)
    {
        options ??= RawOptions;
        var firstToSecond = new Pipe(options);
        var secondToFirst = new Pipe(options);
        return (new DuplexPipe(secondToFirst.Reader, firstToSecond.Writer), new DuplexPipe(firstToSecond.Reader, secondToFirst.Writer));
    }
}
