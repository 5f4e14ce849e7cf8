using System.IO.Pipelines;
using CircuitRelay.Abstractions;

namespace CircuitRelay.ReferenceHost.Yamux;

/// <summary>
/// A <see cref="YamuxStream"/> presented as an <see cref="ILibp2pStream"/> once multistream-select agreed on
/// its protocol. The pipes are the stream's own, so bytes pipelined after negotiation are not lost.
/// </summary>
/// <param name="stream">The negotiated Yamux stream; owned by the new object.</param>
/// <param name="protocol">The negotiated protocol id.</param>
/// <param name="connection">The connection the session runs on.</param>
internal sealed class YamuxLibp2pStream(YamuxStream stream, string protocol, ConnectionInfo connection) : ILibp2pStream
{
    /// <summary>The underlying Yamux stream.</summary>
    public YamuxStream Stream { get; } = stream ?? throw new ArgumentNullException(nameof(stream));

    /// <inheritdoc />
    public string Protocol { get; } = protocol ?? throw new ArgumentNullException(nameof(protocol));

    /// <inheritdoc />
    public ConnectionInfo Connection { get; } = connection ?? throw new ArgumentNullException(nameof(connection));

    /// <inheritdoc />
    public PipeReader Input => Stream.Input;

    /// <inheritdoc />
    public PipeWriter Output => Stream.Output;

    /// <inheritdoc />
    public void Abort() => Stream.Abort();

    /// <inheritdoc />
    public ValueTask DisposeAsync() => Stream.DisposeAsync();

    /// <inheritdoc />
    public override string ToString() => $"{Protocol} on {Stream} ({Connection.Id})";
}
