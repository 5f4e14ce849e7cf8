using System.IO.Pipelines;

namespace CircuitRelay.ReferenceHost.Tests.TestSupport;

/// <summary>An <see cref="IDuplexPipe"/> made of two independent halves.</summary>
internal sealed class DuplexPipe(PipeReader input, PipeWriter output) : IDuplexPipe
{
    public PipeReader Input { get; } = input;

    public PipeWriter Output { get; } = output;

    /// <summary>Two crossed pipes: what one end writes, the other reads.</summary>
    public static (DuplexPipe Left, DuplexPipe Right) CreatePair(PipeOptions? options = null)
    {
        var leftToRight = new Pipe(options ?? PipeOptions.Default);
        var rightToLeft = new Pipe(options ?? PipeOptions.Default);
        return (new DuplexPipe(rightToLeft.Reader, leftToRight.Writer), new DuplexPipe(leftToRight.Reader, rightToLeft.Writer));
    }
}
