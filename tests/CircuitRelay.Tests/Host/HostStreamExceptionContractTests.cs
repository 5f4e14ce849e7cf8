using System.IO.Pipelines;
using CircuitRelay.Abstractions;
using CircuitRelay.Tests.Infrastructure;

namespace CircuitRelay.Tests.Host;

/// <summary>The reference host's streams keep the <see cref="ILibp2pStream"/> exception contract: only IOException or OperationCanceledException.</summary>
public sealed class HostStreamExceptionContractTests : IAsyncLifetime
{
    private const string Protocol = "/test/contract/1.0.0";
    private readonly RelayFixture _fixture = RelayFixture.Create();

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync() => await _fixture.DisposeAsync();

    [Fact]
    public async Task ReadAsync_AfterInputCompleted_ThrowsIOException()
    {
        ILibp2pStream stream = await OpenAsync();
        await stream.Input.CompleteAsync();

        Func<Task> act = async () => await stream.Input.ReadAsync();

        (await act.Should().ThrowAsync<IOException>().Within()).Which.InnerException.Should().BeAssignableTo<InvalidOperationException>();
        await stream.DisposeAsync();
    }

    [Fact]
    public async Task GetSpan_AfterOutputCompleted_ThrowsIOException()
    {
        ILibp2pStream stream = await OpenAsync();
        await stream.Output.CompleteAsync();

        Action act = () => stream.Output.GetSpan(1);

        act.Should().Throw<IOException>();
        await stream.DisposeAsync();
    }

    [Fact]
    public async Task WriteAsync_AfterDispose_ThrowsIOException()
    {
        ILibp2pStream stream = await OpenAsync();
        await stream.DisposeAsync();

        Func<Task> act = async () => await stream.Output.WriteAsync(new byte[] { 1 });

        await act.Should().ThrowAsync<IOException>().Within();
    }

    [Fact]
    public async Task ReadAsync_AfterAbort_ThrowsIOException()
    {
        ILibp2pStream stream = await OpenAsync();
        stream.Abort();

        Func<Task> act = async () => await stream.Input.ReadAsync();

        await act.Should().ThrowAsync<IOException>().Within();
        await stream.DisposeAsync();
    }

    [Fact]
    public async Task ReadAsync_CancelledByCaller_ThrowsOperationCanceled()
    {
        ILibp2pStream stream = await OpenAsync();
        using var cancel = new CancellationTokenSource();
        ValueTask<ReadResult> read = stream.Input.ReadAsync(cancel.Token);
        await cancel.CancelAsync();

        Func<Task> act = async () => await read;

        await act.Should().ThrowAsync<OperationCanceledException>().Within();
        await stream.DisposeAsync();
    }

    private async Task<ILibp2pStream> OpenAsync()
    {
        TestNode a = _fixture.CreateNode();
        TestNode b = _fixture.CreateNode();
        b.Host.SetStreamHandler(Protocol, (_, _) => Task.CompletedTask);
        return await a.Host.OpenStreamAsync(b.Id, Protocol, b.DialHere).Within();
    }
}
