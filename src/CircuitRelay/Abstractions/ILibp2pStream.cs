using System.IO.Pipelines;

namespace CircuitRelay.Abstractions;

/// <summary>
/// A negotiated protocol stream on a connection: a duplex byte pipe plus what the host knows about it.
/// </summary>
/// <remarks>
/// <para>Ownership follows the Kestrel connection model:</para>
/// <list type="bullet">
/// <item>Completing <see cref="IDuplexPipe.Output"/> without an exception half-closes the stream
/// (sends FIN); the remote reads end-of-stream after every byte written before it.</item>
/// <item>Completing <see cref="IDuplexPipe.Input"/> says the local side will read no more.</item>
/// <item><see cref="Abort"/> resets the stream (RST): pending data may be dropped, the remote's
/// reads and writes fail.</item>
/// <item><see cref="IAsyncDisposable.DisposeAsync"/> completes both sides gracefully and releases
/// the stream. It is idempotent and safe after <see cref="Abort"/>.</item>
/// </list>
/// <para>Failures at this boundary are normalised: reading, writing and flushing fail only with
/// <see cref="IOException"/> (the stream was reset, the connection ended, the muxer failed; a subclass may say
/// more) or <see cref="OperationCanceledException"/> (the caller's token). Hosts translate their own exception
/// types into these, so callers catch two types, not five.</para>
/// <para>A stream handed to a <see cref="StreamHandler"/> belongs to the handler: the host must not
/// dispose it when the handler returns (the relay keeps stop streams alive as circuits).</para>
/// </remarks>
public interface ILibp2pStream : IDuplexPipe, IAsyncDisposable
{
    /// <summary>The negotiated protocol id, e.g. <c>/libp2p/circuit/relay/0.2.0/hop</c>.</summary>
    string Protocol { get; }

    /// <summary>The connection the stream rides on.</summary>
    ConnectionInfo Connection { get; }

    /// <summary>Resets the stream: both directions fail at once, buffered data may be dropped.</summary>
    void Abort();
}
