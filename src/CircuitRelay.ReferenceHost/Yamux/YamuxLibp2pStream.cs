using System.Buffers;
using System.IO.Pipelines;
using System.Runtime.CompilerServices;
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
/// <see cref="IOException"/> with the original as inner exception. The wrappers are created once per stream and add no
/// allocation per call.
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
    public PipeReader Input { get; } = new BoundaryReader(stream.Input);

    /// <inheritdoc />
    public PipeWriter Output { get; } = new BoundaryWriter(stream.Output);

    /// <inheritdoc />
    public void Abort() => Stream.Abort();

    /// <inheritdoc />
    public ValueTask DisposeAsync() => Stream.DisposeAsync();

    /// <inheritdoc />
    public override string ToString() => $"{Protocol} on {Stream} ({Connection.Id})";

    /// <summary>Whether <paramref name="exception"/> breaks the boundary contract and must be translated.</summary>
    private static bool IsForeign(Exception exception) => exception is InvalidOperationException;

    private static IOException Translate(Exception exception) =>
        new($"The stream is no longer usable: {exception.Message}", exception);

    /// <summary>The stream's reader, with its failures translated to <see cref="IOException"/>.</summary>
    private sealed class BoundaryReader(PipeReader inner) : PipeReader
    {
        public override ValueTask<ReadResult> ReadAsync(CancellationToken cancellationToken = default)
        {
            ValueTask<ReadResult> read;
            try
            {
                read = inner.ReadAsync(cancellationToken);
            }
            catch (Exception ex) when (IsForeign(ex))
            {
                throw Translate(ex);
            }

            return read.IsCompletedSuccessfully ? read : AwaitReadAsync(read);
        }

        public override bool TryRead(out ReadResult result)
        {
            try
            {
                return inner.TryRead(out result);
            }
            catch (Exception ex) when (IsForeign(ex))
            {
                throw Translate(ex);
            }
        }

        public override void AdvanceTo(SequencePosition consumed)
        {
            try
            {
                inner.AdvanceTo(consumed);
            }
            catch (Exception ex) when (IsForeign(ex))
            {
                throw Translate(ex);
            }
        }

        public override void AdvanceTo(SequencePosition consumed, SequencePosition examined)
        {
            try
            {
                inner.AdvanceTo(consumed, examined);
            }
            catch (Exception ex) when (IsForeign(ex))
            {
                throw Translate(ex);
            }
        }

        public override void CancelPendingRead() => inner.CancelPendingRead();

        public override void Complete(Exception? exception = null) => inner.Complete(exception);

        [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
        private static async ValueTask<ReadResult> AwaitReadAsync(ValueTask<ReadResult> read)
        {
            try
            {
                return await read.ConfigureAwait(false);
            }
            catch (Exception ex) when (IsForeign(ex))
            {
                throw Translate(ex);
            }
        }
    }

    /// <summary>The stream's writer, with its failures translated to <see cref="IOException"/>.</summary>
    private sealed class BoundaryWriter(PipeWriter inner) : PipeWriter
    {
        public override bool CanGetUnflushedBytes => inner.CanGetUnflushedBytes;

        public override long UnflushedBytes => inner.UnflushedBytes;

        public override void Advance(int bytes)
        {
            try
            {
                inner.Advance(bytes);
            }
            catch (Exception ex) when (IsForeign(ex))
            {
                throw Translate(ex);
            }
        }

        public override Memory<byte> GetMemory(int sizeHint = 0)
        {
            try
            {
                return inner.GetMemory(sizeHint);
            }
            catch (Exception ex) when (IsForeign(ex))
            {
                throw Translate(ex);
            }
        }

        public override Span<byte> GetSpan(int sizeHint = 0)
        {
            try
            {
                return inner.GetSpan(sizeHint);
            }
            catch (Exception ex) when (IsForeign(ex))
            {
                throw Translate(ex);
            }
        }

        public override void CancelPendingFlush() => inner.CancelPendingFlush();

        public override void Complete(Exception? exception = null) => inner.Complete(exception);

        public override ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default)
        {
            ValueTask<FlushResult> flush;
            try
            {
                flush = inner.FlushAsync(cancellationToken);
            }
            catch (Exception ex) when (IsForeign(ex))
            {
                throw Translate(ex);
            }

            return flush.IsCompletedSuccessfully ? flush : AwaitFlushAsync(flush);
        }

        [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
        private static async ValueTask<FlushResult> AwaitFlushAsync(ValueTask<FlushResult> flush)
        {
            try
            {
                return await flush.ConfigureAwait(false);
            }
            catch (Exception ex) when (IsForeign(ex))
            {
                throw Translate(ex);
            }
        }
    }
}
