using System.IO.Pipelines;
using CircuitRelay.Abstractions;

namespace CircuitRelay.ReferenceHost.Yamux;

/// <summary>
/// A <see cref="YamuxStream"/> presented as an <see cref="ILibp2pStream"/> once multistream-select agreed on
/// its protocol. The pipes are the stream's own, so bytes pipelined after negotiation are not lost.
/// </summary>
/// <remarks>
/// <see cref="Input"/> and <see cref="Output"/> keep the <see cref="ILibp2pStream"/> exception contract: reads, writes
/// and flushes fail only with <see cref="IOException"/> (a reset stays a <see cref="YamuxStreamResetException"/>) or
/// <see cref="OperationCanceledException"/>. What the pipes throw otherwise (an <see cref="InvalidOperationException"/>
/// or <see cref="ObjectDisposedException"/> once a side is completed or the stream released) becomes an
/// <see cref="IOException"/> with the original as inner exception. The stream's own reader and writer do this
/// (<see cref="StreamBoundary"/>), so the application reads and writes them directly, with no wrapper in between.
/// </remarks>
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
