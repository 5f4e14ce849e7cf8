using System.Buffers;
using System.IO.Pipelines;
using CircuitRelay.ReferenceHost.Multistream;
using CircuitRelay.ReferenceHost.Tests.TestSupport;
using CircuitRelay.ReferenceHost.Yamux;

namespace CircuitRelay.ReferenceHost.Tests.Integration;

public sealed class MultistreamOverYamuxTests
{
    private const string Ping = "/ipfs/ping/1.0.0";

    [Fact]
    public async Task SelectOneAsync_OverYamuxStream_DataFollowingNegotiationArrivesIntact()
    {
        (YamuxSession client, YamuxSession server) = YamuxPair.Create();
        await using YamuxSession c = client;
        await using YamuxSession s = server;
        byte[] payload = new byte[32];
        new Random(7).NextBytes(payload);

        Task<byte[]> responder = Task.Run(async () =>
        {
            YamuxStream inbound = (await server.AcceptStreamAsync())!;
            string protocol = await MultistreamSelect.HandleAsync(inbound, p => p == Ping);
            protocol.Should().Be(Ping);
            byte[] echo = await PipeIo.ReadExactlyAsync(inbound.Input, payload.Length);
            await inbound.Output.WriteAsync(echo);
            await inbound.Output.CompleteAsync();
            return echo;
        });
        YamuxStream outbound = await client.OpenStreamAsync().Within();
        string selected = await MultistreamSelect.SelectOneAsync(outbound, ["/unknown/1.0.0", Ping]).Within();
        await outbound.Output.WriteAsync(payload).Within();
        byte[] echoed = await PipeTesting.ReadToEndAsync(outbound.Input).Within();

        selected.Should().Be(Ping);
        (await responder.Within()).Should().Equal(payload);
        echoed.Should().Equal(payload);
    }

    [Fact]
    public async Task HandleAsync_OverYamuxStream_ProposalAndDataInOneFrame_DataIsKept()
    {
        (YamuxSession client, YamuxSession server) = YamuxPair.Create();
        await using YamuxSession c = client;
        await using YamuxSession s = server;
        YamuxStream outbound = await client.OpenStreamAsync().Within();

        MultistreamMessage.Write(outbound.Output, MultistreamMessage.Header);
        MultistreamMessage.Write(outbound.Output, Ping);
        outbound.Output.Write("0123456789abcdef0123456789abcdef"u8);
        await outbound.Output.CompleteAsync();
        YamuxStream inbound = (await server.AcceptStreamAsync().Within())!;
        string protocol = await MultistreamSelect.HandleAsync(inbound, p => p == Ping).Within();
        byte[] rest = await PipeTesting.ReadToEndAsync(inbound.Input).Within();

        protocol.Should().Be(Ping);
        rest.Should().Equal("0123456789abcdef0123456789abcdef"u8.ToArray());
    }
}
