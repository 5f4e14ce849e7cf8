using System.IO.Pipelines;
using CircuitRelay.Abstractions;

namespace CircuitRelay.Benchmarks;

/// <summary>One end of an in-memory stream: what the splice sees of a host stream.</summary>
internal sealed class PipeStream(PipeReader input, PipeWriter output, ConnectionInfo connection) : ILibp2pStream
{
    public PipeReader Input { get; } = input;

    public PipeWriter Output { get; } = output;

    public string Protocol => "/bench";

    public ConnectionInfo Connection { get; } = connection;

    public void Abort()
    {
        Input.Complete(new IOException("reset"));
        Output.Complete(new IOException("reset"));
    }

    public ValueTask DisposeAsync()
    {
        Input.Complete();
        Output.Complete();
        return ValueTask.CompletedTask;
    }
}
