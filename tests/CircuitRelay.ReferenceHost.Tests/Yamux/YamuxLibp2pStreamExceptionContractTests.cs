using CircuitRelay.Abstractions;
using CircuitRelay.ReferenceHost.Tests.TestSupport;
using CircuitRelay.ReferenceHost.Yamux;

namespace CircuitRelay.ReferenceHost.Tests.Yamux;

/// <summary><see cref="YamuxLibp2pStream"/> keeps the <see cref="ILibp2pStream"/> exception contract: only IOException or OperationCanceledException.</summary>
public sealed class YamuxLibp2pStreamExceptionContractTests
{
    [Fact]
    public async Task ReadAsync_AfterInputCompleted_ThrowsIOException()
    {
        await using var pair = await StreamPair.CreateAsync();
        await pair.Wrapped.Input.CompleteAsync();

        Func<Task> act = async () => await pair.Wrapped.Input.ReadAsync();

        (await act.Should().ThrowAsync<IOException>().Within()).Which.InnerException.Should().BeAssignableTo<InvalidOperationException>();
    }

    [Fact]
    public async Task GetSpan_AfterOutputCompleted_ThrowsIOException()
    {
        await using var pair = await StreamPair.CreateAsync();
        await pair.Wrapped.Output.CompleteAsync();

        Action act = () => pair.Wrapped.Output.GetSpan(1);

        act.Should().Throw<IOException>();
    }

    [Fact]
    public async Task ReadAsync_AfterPeerReset_ThrowsYamuxStreamResetException()
    {
        await using var pair = await StreamPair.CreateAsync();
        pair.Remote.Abort();

        Func<Task> act = async () => await PipeTesting.ReadToEndAsync(pair.Wrapped.Input);

        await act.Should().ThrowAsync<YamuxStreamResetException>().Within();
    }

    [Fact]
    public async Task FlushAsync_AfterAbort_ThrowsIOException()
    {
        await using var pair = await StreamPair.CreateAsync();
        pair.Wrapped.Abort();

        Func<Task> act = async () => await pair.Wrapped.Output.WriteAsync(new byte[] { 1 });

        await act.Should().ThrowAsync<IOException>().Within();
    }

    private sealed class StreamPair : IAsyncDisposable
    {
        private readonly YamuxSession _client;
        private readonly YamuxSession _server;

        private StreamPair(YamuxSession client, YamuxSession server, ILibp2pStream wrapped, YamuxStream remote)
        {
            _client = client;
            _server = server;
            Wrapped = wrapped;
            Remote = remote;
        }

        public ILibp2pStream Wrapped { get; }

        public YamuxStream Remote { get; }

        public static async Task<StreamPair> CreateAsync()
        {
            (YamuxSession client, YamuxSession server) = YamuxPair.Create();
            var connection = new ConnectionInfo("conn-1", PeerId.FromBytes([0x00, 0x01, 0x02]), Multiaddr.FromBytes([0x04, 127, 0, 0, 1]), ConnectionDirection.Outbound);
            YamuxStream outbound = await client.OpenStreamAsync().Within();
            YamuxStream inbound = (await server.AcceptStreamAsync().Within())!;
            return new StreamPair(client, server, new YamuxLibp2pStream(outbound, "/test/contract/1.0.0", connection), inbound);
        }

        public async ValueTask DisposeAsync()
        {
            await Wrapped.DisposeAsync();
            await Remote.DisposeAsync();
            await _client.DisposeAsync();
            await _server.DisposeAsync();
        }
    }
}
