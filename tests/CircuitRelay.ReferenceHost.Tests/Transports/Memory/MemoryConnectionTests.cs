using System.IO.Pipelines;
using CircuitRelay.Abstractions;
using CircuitRelay.ReferenceHost.Transports.Memory;
using static CircuitRelay.ReferenceHost.Tests.Transports.Memory.MemoryTestSupport;

namespace CircuitRelay.ReferenceHost.Tests.Transports.Memory;

public sealed class MemoryConnectionTests : IAsyncLifetime
{
    private readonly MemoryNetwork _network = new();
    private MemoryTransport _server = null!;
    private MemoryTransport _client = null!;
    private ITransportListener _listener = null!;

    public async Task InitializeAsync()
    {
        _server = _network.AddNode(PublicA);
        _client = _network.AddNode(PublicB);
        _listener = await _server.ListenAsync(PublicA, 4001);
    }

    public async Task DisposeAsync()
    {
        await _listener.DisposeAsync();
        _network.Dispose();
    }

    [Fact]
    public async Task CompleteOutput_AfterData_RemoteReadsEveryByteThenEndOfStream()
    {
        (ITransportConnection dialer, ITransportConnection acceptor) = await _client.ConnectAsync(_listener);

        await dialer.Output.SendAsync([1, 2, 3]);
        await dialer.Output.CompleteAsync();

        (await acceptor.Input.ReadToEndAsync().Within()).Should().Equal(1, 2, 3);
    }

    [Fact]
    public async Task CompleteOutput_HalfClosed_OtherDirectionStillCarriesData()
    {
        (ITransportConnection dialer, ITransportConnection acceptor) = await _client.ConnectAsync(_listener);
        await dialer.Output.CompleteAsync();
        await acceptor.Input.ReadToEndAsync().Within();

        await acceptor.Output.SendAsync([9, 8]);
        await acceptor.Output.CompleteAsync();

        (await dialer.Input.ReadToEndAsync().Within()).Should().Equal(9, 8);
    }

    [Fact]
    public async Task DisposeAsync_AfterWriting_RemoteReadsEveryByteThenEndOfStream()
    {
        (ITransportConnection dialer, ITransportConnection acceptor) = await _client.ConnectAsync(_listener);
        await dialer.Output.SendAsync([1, 2, 3]);

        await dialer.DisposeAsync().Within();
        await dialer.DisposeAsync().Within();

        (await acceptor.Input.ReadToEndAsync().Within()).Should().Equal(1, 2, 3);
    }

    [Fact]
    public async Task Abort_ByDialer_FailsTheAcceptorsPendingRead()
    {
        (ITransportConnection dialer, ITransportConnection acceptor) = await _client.ConnectAsync(_listener);
        Task<ReadResult> pending = acceptor.Input.ReadAsync().AsTask();

        dialer.Abort();

        Func<Task> read = () => pending.Within();
        await read.Should().ThrowAsync<IOException>().WithMessage("*reset*");
    }

    [Fact]
    public async Task Abort_ByAcceptor_FailsTheDialersPendingRead()
    {
        (ITransportConnection dialer, ITransportConnection acceptor) = await _client.ConnectAsync(_listener);
        Task<ReadResult> pending = dialer.Input.ReadAsync().AsTask();

        acceptor.Abort();

        Func<Task> read = () => pending.Within();
        await read.Should().ThrowAsync<IOException>().WithMessage("*reset*");
    }

    [Fact]
    public async Task Abort_WithBufferedData_LaterReadsOnBothSidesFail()
    {
        (ITransportConnection dialer, ITransportConnection acceptor) = await _client.ConnectAsync(_listener);
        await dialer.Output.SendAsync([1, 2, 3]);
        await acceptor.Output.SendAsync([4]);

        dialer.Abort();

        Func<Task> acceptorRead = () => acceptor.Input.ReadAsync().Within();
        Func<Task> dialerRead = () => dialer.Input.ReadAsync().Within();
        await acceptorRead.Should().ThrowAsync<IOException>().WithMessage("*reset*");
        await dialerRead.Should().ThrowAsync<IOException>().WithMessage("*reset*");
    }

    [Fact]
    public async Task Abort_ByAcceptor_LaterWritesOnBothSidesFail()
    {
        (ITransportConnection dialer, ITransportConnection acceptor) = await _client.ConnectAsync(_listener);

        acceptor.Abort();

        Func<Task> dialerWrite = () => dialer.Output.WriteAsync(new byte[] { 1 }).Within();
        Func<Task> acceptorWrite = () => acceptor.Output.WriteAsync(new byte[] { 1 }).Within();
        await dialerWrite.Should().ThrowAsync<IOException>().WithMessage("*reset*");
        await acceptorWrite.Should().ThrowAsync<IOException>().WithMessage("*reset*");
    }

    [Fact]
    public async Task Abort_WriterBlockedByBackpressure_FailsThePendingFlush()
    {
        (ITransportConnection dialer, ITransportConnection acceptor) = await _client.ConnectAsync(_listener);
        ValueTask<FlushResult> blocked = await FillUntilBlockedAsync(dialer.Output);

        acceptor.Abort();

        Func<Task> flush = () => blocked.Within();
        await flush.Should().ThrowAsync<IOException>().WithMessage("*reset*");
    }

    [Fact]
    public async Task DisposeAsync_AfterAbort_Completes()
    {
        (ITransportConnection dialer, ITransportConnection acceptor) = await _client.ConnectAsync(_listener);
        dialer.Abort();
        dialer.Abort();

        await dialer.DisposeAsync().Within();
        await acceptor.DisposeAsync().Within();
    }

    [Fact]
    public async Task Write_ReaderDoesNotRead_StopsTheWriterAtThePauseThreshold()
    {
        (ITransportConnection dialer, ITransportConnection acceptor) = await _client.ConnectAsync(_listener);

        ValueTask<FlushResult> blocked = await FillUntilBlockedAsync(dialer.Output);
        blocked.IsCompleted.Should().BeFalse();

        // Reading below the resume threshold lets the writer go on.
        ReadResult result = await acceptor.Input.ReadAsync().Within();
        result.Buffer.Length.Should().BeInRange(MemoryLink.PauseWriterThreshold, MemoryLink.PauseWriterThreshold + Chunk);
        acceptor.Input.AdvanceTo(result.Buffer.End);
        (await blocked.Within()).IsCompleted.Should().BeFalse();
    }

    [Fact]
    public async Task Write_EightMiB_ArrivesByteExact()
    {
        const int size = 8 * 1024 * 1024;
        byte[] data = RandomBytes(size, seed: 8);
        (ITransportConnection dialer, ITransportConnection acceptor) = await _client.ConnectAsync(_listener);

        Task send = SendInChunksAsync(dialer.Output, data);
        byte[] received = await acceptor.Input.ReadToEndAsync().Within();
        await send.Within();

        received.Length.Should().Be(size);
        received.AsSpan().SequenceEqual(data).Should().BeTrue();
    }

    [Fact]
    public async Task AbortAll_Node_ResetsItsConnectionsAndClosesItsListeners()
    {
        (ITransportConnection dialer, ITransportConnection acceptor) = await _client.ConnectAsync(_listener);
        Task<ReadResult> pending = dialer.Input.ReadAsync().AsTask();

        _server.AbortAll();

        Func<Task> read = () => pending.Within();
        await read.Should().ThrowAsync<IOException>().WithMessage("*reset*");
        Func<Task> acceptorRead = () => acceptor.Input.ReadAsync().Within();
        await acceptorRead.Should().ThrowAsync<IOException>();
        (await _listener.AcceptAsync().Within()).Should().BeNull();
        Func<Task> dial = () => _client.DialAsync(_listener.Addresses[0]).Within();
        await dial.Should().ThrowAsync<IOException>().WithMessage("Connection refused*");
    }

    [Fact]
    public async Task AbortAll_Node_LeavesOtherNodesConnectionsAlone()
    {
        MemoryTransport bystander = _network.AddNode(System.Net.IPAddress.Parse("198.51.100.3"));
        (ITransportConnection dialer, ITransportConnection acceptor) = await bystander.ConnectAsync(_listener);
        (ITransportConnection doomed, _) = await _client.ConnectAsync(_listener);

        _client.AbortAll();

        await dialer.Output.SendAsync([7]);
        await dialer.Output.CompleteAsync();
        (await acceptor.Input.ReadToEndAsync().Within()).Should().Equal(7);
        Func<Task> read = () => doomed.Input.ReadAsync().Within();
        await read.Should().ThrowAsync<IOException>();
    }

    [Fact]
    public async Task AbortAll_Node_CanListenAgain()
    {
        _server.AbortAll();

        await using ITransportListener again = await _server.ListenAsync(PublicA, 4001);
        (ITransportConnection dialer, _) = await _client.ConnectAsync(again);

        dialer.RemoteAddress.Should().Be(again.Addresses[0]);
    }

    private const int Chunk = 64 * 1024;

    /// <summary>Writes chunks without anyone reading until a flush does not complete at once; returns that flush.</summary>
    private static async Task<ValueTask<FlushResult>> FillUntilBlockedAsync(PipeWriter writer)
    {
        byte[] chunk = new byte[Chunk];
        for (long written = 0; written <= MemoryLink.PauseWriterThreshold + Chunk; written += Chunk)
        {
            ValueTask<FlushResult> flush = writer.WriteAsync(chunk);
            if (!flush.IsCompleted)
            {
                written.Should().BeGreaterThanOrEqualTo(MemoryLink.PauseWriterThreshold - Chunk);
                return flush;
            }

            await flush;
        }

        throw new InvalidOperationException("The writer was never stopped by backpressure.");
    }

    private static async Task SendInChunksAsync(PipeWriter writer, byte[] data)
    {
        for (int offset = 0; offset < data.Length; offset += 100_000)
        {
            FlushResult result = await writer.WriteAsync(data.AsMemory(offset, Math.Min(100_000, data.Length - offset)));
            result.IsCompleted.Should().BeFalse();
        }

        await writer.CompleteAsync();
    }
}
