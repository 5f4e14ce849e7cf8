using System.Buffers;
using System.IO.Pipelines;
using System.Security.Cryptography;
using CircuitRelay.Abstractions;
using CircuitRelay.ReferenceHost.Tests.TestSupport;
using CircuitRelay.ReferenceHost.Yamux;

namespace CircuitRelay.ReferenceHost.Tests.Yamux;

public sealed class YamuxStreamTests
{
    private static readonly byte[] Hello = "hello yamux"u8.ToArray();

    [Fact]
    public async Task OpenStreamAsync_ClientSession_SendsDigestSynHeader()
    {
        (YamuxSession client, RawYamuxPeer server) = YamuxPair.CreateWithRawPeer(sessionIsClient: true);
        await using YamuxSession owned = client;

        await client.OpenStreamAsync().Within();
        byte[] first = await PipeIo.ReadExactlyAsync(server.Pipe.Input, YamuxHeader.Size).Within();

        Convert.ToHexString(first).Should().Be("000100010000000100000000");
    }

    [Fact]
    public async Task OpenStreamAsync_LargerInitialWindow_AnnouncesDeltaWithSyn()
    {
        YamuxOptions options = new() { KeepAliveInterval = null, InitialStreamWindowSize = 1024 * 1024 };
        (YamuxSession client, RawYamuxPeer server) = YamuxPair.CreateWithRawPeer(sessionIsClient: true, options);
        await using YamuxSession owned = client;

        await client.OpenStreamAsync().Within();
        (YamuxHeader syn, _) = await server.ReceiveUntilAsync(_ => true).Within();

        syn.Should().Be(new YamuxHeader(YamuxFrameType.WindowUpdate, YamuxFlags.Syn, 1, 768 * 1024));
    }

    [Fact]
    public async Task OpenStreamAsync_Client_UsesOddIdsFromOne()
    {
        (YamuxSession client, YamuxSession server) = YamuxPair.Create();
        await using YamuxSession c = client;
        await using YamuxSession s = server;

        uint[] opened = [(await client.OpenStreamAsync().Within()).Id, (await client.OpenStreamAsync().Within()).Id, (await client.OpenStreamAsync().Within()).Id];
        uint[] accepted = [(await server.AcceptStreamAsync().Within())!.Id, (await server.AcceptStreamAsync().Within())!.Id, (await server.AcceptStreamAsync().Within())!.Id];

        opened.Should().Equal(1u, 3u, 5u);
        accepted.Should().Equal(1u, 3u, 5u);
    }

    [Fact]
    public async Task OpenStreamAsync_Server_UsesEvenIdsFromTwo()
    {
        (YamuxSession client, YamuxSession server) = YamuxPair.Create();
        await using YamuxSession c = client;
        await using YamuxSession s = server;

        uint[] opened = [(await server.OpenStreamAsync().Within()).Id, (await server.OpenStreamAsync().Within()).Id, (await server.OpenStreamAsync().Within()).Id];
        uint[] accepted = [(await client.AcceptStreamAsync().Within())!.Id, (await client.AcceptStreamAsync().Within())!.Id, (await client.AcceptStreamAsync().Within())!.Id];

        opened.Should().Equal(2u, 4u, 6u);
        accepted.Should().Equal(2u, 4u, 6u);
    }

    [Fact]
    public async Task OpenAndAccept_Echo_RoundTripsTheBytes()
    {
        (YamuxSession client, YamuxSession server) = YamuxPair.Create();
        await using YamuxSession c = client;
        await using YamuxSession s = server;

        YamuxStream outbound = await client.OpenStreamAsync().Within();
        await PipeIo.WriteAsync(outbound.Output, Hello).Within();
        await outbound.Output.CompleteAsync();
        YamuxStream inbound = (await server.AcceptStreamAsync().Within())!;
        byte[] received = await PipeTesting.ReadToEndAsync(inbound.Input).Within();
        await PipeIo.WriteAsync(inbound.Output, received).Within();
        await inbound.Output.CompleteAsync();
        byte[] echoed = await PipeTesting.ReadToEndAsync(outbound.Input).Within();

        echoed.Should().Equal(Hello);
    }

    [Fact]
    public async Task Streams_HundredConcurrentMegabyteExchanges_AreByteExact()
    {
        const int streamCount = 100;
        const int size = 1024 * 1024;
        (YamuxSession client, YamuxSession server) = YamuxPair.Create();
        await using YamuxSession c = client;
        await using YamuxSession s = server;

        Task<ExchangeResult[]> serverSide = Task.Run(async () =>
        {
            var exchanges = new List<Task<ExchangeResult>>();
            for (int i = 0; i < streamCount; i++)
            {
                YamuxStream stream = (await server.AcceptStreamAsync())!;
                exchanges.Add(ExchangeAsync(stream, seed: 100_000 + (int)stream.Id, size));
            }

            return await Task.WhenAll(exchanges);
        });
        var clientExchanges = new List<Task<ExchangeResult>>();
        for (int i = 0; i < streamCount; i++)
        {
            YamuxStream stream = await client.OpenStreamAsync().Within();
            clientExchanges.Add(ExchangeAsync(stream, seed: (int)stream.Id, size));
        }

        ExchangeResult[] clientResults = await Task.WhenAll(clientExchanges).WaitAsync(TimeSpan.FromMinutes(3));
        ExchangeResult[] serverResults = await serverSide.WaitAsync(TimeSpan.FromMinutes(3));

        Dictionary<uint, ExchangeResult> byId = serverResults.ToDictionary(r => r.StreamId);
        byId.Should().HaveCount(streamCount);
        foreach (ExchangeResult clientResult in clientResults)
        {
            ExchangeResult serverResult = byId[clientResult.StreamId];
            clientResult.ReceivedLength.Should().Be(size);
            serverResult.ReceivedLength.Should().Be(size);
            serverResult.ReceivedHash.Should().Equal(clientResult.SentHash, "server received what client {0} sent", clientResult.StreamId);
            clientResult.ReceivedHash.Should().Equal(serverResult.SentHash, "client received what server {0} sent", clientResult.StreamId);
        }
    }

    [Fact]
    public async Task Output_CompletedByClient_ServerReadsEndAndCanStillWrite()
    {
        (YamuxSession client, YamuxSession server) = YamuxPair.Create();
        await using YamuxSession c = client;
        await using YamuxSession s = server;
        YamuxStream outbound = await client.OpenStreamAsync().Within();
        await PipeIo.WriteAsync(outbound.Output, Hello).Within();
        await outbound.Output.CompleteAsync();
        YamuxStream inbound = (await server.AcceptStreamAsync().Within())!;

        byte[] fromClient = await PipeTesting.ReadToEndAsync(inbound.Input).Within();
        await PipeIo.WriteAsync(inbound.Output, "late reply"u8.ToArray()).Within();
        await inbound.Output.CompleteAsync();
        byte[] fromServer = await PipeTesting.ReadToEndAsync(outbound.Input).Within();

        fromClient.Should().Equal(Hello);
        fromServer.Should().Equal("late reply"u8.ToArray());
    }

    [Fact]
    public async Task SessionEnds_StreamThatGotItsFin_ReadsTheDataThenACleanEnd()
    {
        (YamuxSession session, RawYamuxPeer peer) = YamuxPair.CreateWithRawPeer(sessionIsClient: false);
        await using YamuxSession s = session;
        await peer.SendAsync(new YamuxHeader(YamuxFrameType.Data, YamuxFlags.Syn | YamuxFlags.Fin, 1, (uint)Hello.Length), Hello).Within();
        YamuxStream inbound = (await session.AcceptStreamAsync().Within())!;

        await peer.Pipe.Output.CompleteAsync(); // the connection ends after the stream's FIN
        await session.Completion.ContinueWith(_ => { }, TaskScheduler.Default).Within();

        (await PipeTesting.ReadToEndAsync(inbound.Input).Within()).Should().Equal(Hello, "a stream that finished keeps its clean end when the session goes");
    }

    [Fact]
    public async Task SessionEnds_StreamWithoutFin_ReadsTheDataThenTheSessionError()
    {
        (YamuxSession session, RawYamuxPeer peer) = YamuxPair.CreateWithRawPeer(sessionIsClient: false);
        await using YamuxSession s = session;
        await peer.SendAsync(new YamuxHeader(YamuxFrameType.Data, YamuxFlags.Syn, 1, (uint)Hello.Length), Hello).Within();
        YamuxStream inbound = (await session.AcceptStreamAsync().Within())!;

        await peer.SendRawAsync([0x00, 0x00, 0x00]).Within(); // part of a header, then the end
        await peer.Pipe.Output.CompleteAsync();
        await session.Completion.ContinueWith(_ => { }, TaskScheduler.Default).Within();

        (byte[] received, Exception? failure, bool sawCleanEnd) = await inbound.Input.ReadUntilFailureAsync();
        received.Should().Equal(Hello, "what arrived before the session failed is still delivered");
        sawCleanEnd.Should().BeFalse();
        failure.Should().BeAssignableTo<IOException>();
    }

    [Fact]
    public async Task Output_CompletedByServer_ClientReadsEndAndCanStillWrite()
    {
        (YamuxSession client, YamuxSession server) = YamuxPair.Create();
        await using YamuxSession c = client;
        await using YamuxSession s = server;
        YamuxStream outbound = await client.OpenStreamAsync().Within();
        YamuxStream inbound = (await server.AcceptStreamAsync().Within())!;
        await PipeIo.WriteAsync(inbound.Output, Hello).Within();
        await inbound.Output.CompleteAsync();

        byte[] fromServer = await PipeTesting.ReadToEndAsync(outbound.Input).Within();
        await PipeIo.WriteAsync(outbound.Output, "late reply"u8.ToArray()).Within();
        await outbound.Output.CompleteAsync();
        byte[] fromClient = await PipeTesting.ReadToEndAsync(inbound.Input).Within();

        fromServer.Should().Equal(Hello);
        fromClient.Should().Equal("late reply"u8.ToArray());
    }

    [Fact]
    public async Task Streams_BothSidesFinished_AreRemovedFromBothSessions()
    {
        (YamuxSession client, YamuxSession server) = YamuxPair.Create();
        await using YamuxSession c = client;
        await using YamuxSession s = server;
        YamuxStream outbound = await client.OpenStreamAsync().Within();
        YamuxStream inbound = (await server.AcceptStreamAsync().Within())!;
        client.StreamCount.Should().Be(1);
        server.StreamCount.Should().Be(1);

        await outbound.Output.CompleteAsync();
        await inbound.Output.CompleteAsync();
        await PipeTesting.ReadToEndAsync(outbound.Input).Within();
        await PipeTesting.ReadToEndAsync(inbound.Input).Within();
        await outbound.Completion.Within();
        await inbound.Completion.Within();

        client.StreamCount.Should().Be(0);
        server.StreamCount.Should().Be(0);
    }

    [Fact]
    public async Task Abort_ByClient_ServerReadsAndWritesFail()
    {
        (YamuxSession client, YamuxSession server) = YamuxPair.Create();
        await using YamuxSession c = client;
        await using YamuxSession s = server;
        YamuxStream outbound = await client.OpenStreamAsync().Within();
        YamuxStream inbound = (await server.AcceptStreamAsync().Within())!;

        outbound.Abort();

        await FluentActions.Awaiting(() => PipeTesting.ReadToEndAsync(inbound.Input).Within()).Should().ThrowAsync<YamuxStreamResetException>().WithMessage("*reset by the peer*");
        await FluentActions.Awaiting(() => inbound.Output.WriteAsync(Hello).Within()).Should().ThrowAsync<IOException>();
        await inbound.Completion.Within();
        server.StreamCount.Should().Be(0);
    }

    [Fact]
    public async Task Abort_ByServer_ClientReadsAndWritesFail()
    {
        (YamuxSession client, YamuxSession server) = YamuxPair.Create();
        await using YamuxSession c = client;
        await using YamuxSession s = server;
        YamuxStream outbound = await client.OpenStreamAsync().Within();
        YamuxStream inbound = (await server.AcceptStreamAsync().Within())!;

        inbound.Abort();

        await FluentActions.Awaiting(() => PipeTesting.ReadToEndAsync(outbound.Input).Within()).Should().ThrowAsync<YamuxStreamResetException>().WithMessage("*reset by the peer*");
        await FluentActions.Awaiting(() => outbound.Output.WriteAsync(Hello).Within()).Should().ThrowAsync<IOException>();
        await outbound.Completion.Within();
        client.StreamCount.Should().Be(0);
    }

    [Fact]
    public async Task Abort_Locally_LocalReadsAndWritesFail()
    {
        (YamuxSession client, YamuxSession server) = YamuxPair.Create();
        await using YamuxSession c = client;
        await using YamuxSession s = server;
        YamuxStream outbound = await client.OpenStreamAsync().Within();

        outbound.Abort();

        await FluentActions.Awaiting(() => PipeTesting.ReadToEndAsync(outbound.Input).Within()).Should().ThrowAsync<YamuxStreamResetException>().WithMessage("*aborted*");
        await FluentActions.Awaiting(() => outbound.Output.WriteAsync(Hello).Within()).Should().ThrowAsync<IOException>();
    }

    [Fact]
    public async Task Abort_ByPeerWhileWriteWaitsForWindow_PendingWriteFails()
    {
        (YamuxSession client, YamuxSession server) = YamuxPair.Create();
        await using YamuxSession c = client;
        await using YamuxSession s = server;
        YamuxStream outbound = await client.OpenStreamAsync().Within();
        YamuxStream inbound = (await server.AcceptStreamAsync().Within())!;
        ValueTask<FlushResult> write = outbound.Output.WriteAsync(new byte[1024 * 1024]);
        await outbound.WhenSendBlockedAsync().Within();

        inbound.Abort();

        await FluentActions.Awaiting(() => write.Within()).Should().ThrowAsync<IOException>();
    }

    [Fact]
    public async Task Abort_SentOnTheWire_IsWindowUpdateWithRst()
    {
        (YamuxSession client, RawYamuxPeer server) = YamuxPair.CreateWithRawPeer(sessionIsClient: true);
        await using YamuxSession owned = client;
        YamuxStream outbound = await client.OpenStreamAsync().Within();

        outbound.Abort();
        (YamuxHeader rst, _) = await server.ReceiveUntilAsync(h => h.Has(YamuxFlags.Rst)).Within();

        rst.Should().Be(new YamuxHeader(YamuxFrameType.WindowUpdate, YamuxFlags.Rst, 1, 0));
    }

    [Fact]
    public async Task DisposeAsync_AfterWrites_PeerReadsAllDataThenEnd()
    {
        (YamuxSession client, YamuxSession server) = YamuxPair.Create();
        await using YamuxSession c = client;
        await using YamuxSession s = server;
        byte[] data = RandomNumberGenerator.GetBytes(100 * 1024);
        YamuxStream outbound = await client.OpenStreamAsync().Within();

        outbound.Output.Write(data);
        await outbound.DisposeAsync();
        YamuxStream inbound = (await server.AcceptStreamAsync().Within())!;
        byte[] received = await PipeTesting.ReadToEndAsync(inbound.Input).Within();

        received.Should().Equal(data);
    }

    [Fact]
    public async Task DisposeAsync_AfterAbort_DoesNotThrow()
    {
        (YamuxSession client, YamuxSession server) = YamuxPair.Create();
        await using YamuxSession c = client;
        await using YamuxSession s = server;
        YamuxStream outbound = await client.OpenStreamAsync().Within();
        outbound.Abort();

        Func<Task> dispose = async () =>
        {
            await outbound.DisposeAsync();
            await outbound.DisposeAsync();
        };

        await dispose.Should().NotThrowAsync();
    }

    [Fact]
    public async Task Input_CompletedByReceiver_SenderIsNotStalled()
    {
        (YamuxSession client, YamuxSession server) = YamuxPair.Create();
        await using YamuxSession c = client;
        await using YamuxSession s = server;
        YamuxStream outbound = await client.OpenStreamAsync().Within();
        YamuxStream inbound = (await server.AcceptStreamAsync().Within())!;

        await inbound.Input.CompleteAsync();
        FlushResult result = await outbound.Output.WriteAsync(new byte[2 * 1024 * 1024]).Within();
        await outbound.Output.FlushAsync().Within();

        result.IsCompleted.Should().BeFalse();
        inbound.BufferedReceiveBytes.Should().Be(0);
    }

    [Fact]
    public async Task Output_LargeWrite_IsSplitIntoFramesOfAtMost64KiB()
    {
        (YamuxSession client, RawYamuxPeer server) = YamuxPair.CreateWithRawPeer(sessionIsClient: true);
        await using YamuxSession owned = client;
        byte[] data = RandomNumberGenerator.GetBytes(200 * 1024);
        YamuxStream outbound = await client.OpenStreamAsync().Within();

        ValueTask<FlushResult> write = outbound.Output.WriteAsync(data);
        var frames = new List<(YamuxHeader Header, byte[] Payload)>();
        int total = 0;
        while (total < data.Length)
        {
            (YamuxHeader Header, byte[] Payload) frame = await server.ReceiveUntilAsync(h => h.Type == YamuxFrameType.Data).Within();
            frames.Add(frame);
            total += frame.Payload.Length;
        }

        await write.Within();
        frames.Should().OnlyContain(f => f.Header.Length <= 64 * 1024 && f.Header.StreamId == 1);
        frames.Select(f => f.Header.Length).Should().Equal(65536u, 65536u, 65536u, 8192u);
        frames.SelectMany(f => f.Payload).Should().Equal(data);
    }

    [Fact]
    public async Task AsLibp2pStream_Wrapper_ExposesProtocolConnectionAndAbort()
    {
        (YamuxSession client, YamuxSession server) = YamuxPair.Create();
        await using YamuxSession c = client;
        await using YamuxSession s = server;
        var connection = new ConnectionInfo("conn-1", PeerId.FromBytes([0x00, 0x01, 0x02]), Multiaddr.FromBytes([0x04, 127, 0, 0, 1]), ConnectionDirection.Outbound);
        YamuxStream outbound = await client.OpenStreamAsync().Within();
        YamuxStream inbound = (await server.AcceptStreamAsync().Within())!;
        ILibp2pStream wrapped = new YamuxLibp2pStream(outbound, "/ipfs/ping/1.0.0", connection);

        wrapped.Abort();
        await wrapped.DisposeAsync();

        wrapped.Protocol.Should().Be("/ipfs/ping/1.0.0");
        wrapped.Connection.Should().BeSameAs(connection);
        await FluentActions.Awaiting(() => PipeTesting.ReadToEndAsync(inbound.Input).Within()).Should().ThrowAsync<IOException>();
    }

    private static async Task<ExchangeResult> ExchangeAsync(YamuxStream stream, int seed, int size)
    {
        Task<byte[]> send = Task.Run(async () =>
        {
            var random = new Random(seed);
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            byte[] chunk = new byte[32 * 1024];
            int sent = 0;
            while (sent < size)
            {
                int length = Math.Min(size - sent, random.Next(1, chunk.Length + 1));
                random.NextBytes(chunk.AsSpan(0, length));
                hash.AppendData(chunk, 0, length);
                await stream.Output.WriteAsync(chunk.AsMemory(0, length));
                sent += length;
            }

            await stream.Output.CompleteAsync();
            return hash.GetHashAndReset();
        });
        Task<(byte[] Hash, long Length)> receive = Task.Run(async () =>
        {
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            long length = 0;
            while (true)
            {
                ReadResult result = await stream.Input.ReadAsync();
                foreach (ReadOnlyMemory<byte> segment in result.Buffer)
                {
                    hash.AppendData(segment.Span);
                    length += segment.Length;
                }

                stream.Input.AdvanceTo(result.Buffer.End);
                if (result.IsCompleted)
                {
                    return (hash.GetHashAndReset(), length);
                }
            }
        });
        byte[] sentHash = await send;
        (byte[] receivedHash, long receivedLength) = await receive;
        return new ExchangeResult(stream.Id, sentHash, receivedHash, receivedLength);
    }

    private sealed record ExchangeResult(uint StreamId, byte[] SentHash, byte[] ReceivedHash, long ReceivedLength);
}
