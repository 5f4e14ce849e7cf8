using System.IO.Pipelines;
using CircuitRelay.Protocol;
using CircuitRelay.Protocol.Pb;
using Google.Protobuf;

namespace CircuitRelay.Tests.Protocol;

public sealed class MessageCodecTests
{
    private static readonly byte[] PeerA = Convert.FromHexString("0024080112201ed1e8fae2c4a144b8be8fd4b47bf3d3b34b871c3cacf6010f0e42d474fce27e");

    [Fact]
    public async Task Reserve_Encodes_AsDigestBytes()
    {
        var pipe = new Pipe();

        await MessageIO.WriteAsync(pipe.Writer, new HopMessage { Type = HopMessage.Types.Type.Reserve }, CancellationToken.None);
        await pipe.Writer.CompleteAsync();

        (await ReadAllAsync(pipe.Reader)).Should().Equal(0x02, 0x08, 0x00);
    }

    private static readonly HopMessage[] HopMessages =
    [
        new HopMessage { Type = HopMessage.Types.Type.Reserve },
        new HopMessage { Type = HopMessage.Types.Type.Connect, Peer = new Peer { Id = ByteString.CopyFrom(PeerA), Addrs = { ByteString.CopyFrom(4, 127, 0, 0, 1) } } },
        new HopMessage
        {
            Type = HopMessage.Types.Type.Status,
            Status = Status.Ok,
            Reservation = new Reservation { Expire = 1_700_000_000, Addrs = { ByteString.CopyFrom(4, 1, 2, 3, 4) }, Voucher = ByteString.CopyFrom(9, 9, 9) },
            Limit = new Limit { Duration = 120, Data = 131072 },
        },
        new HopMessage { Type = HopMessage.Types.Type.Status, Status = Status.NoReservation },
        new HopMessage { Type = HopMessage.Types.Type.Status, Status = Status.UnexpectedMessage },
    ];

    public static TheoryData<int> HopIndexes => [.. Enumerable.Range(0, HopMessages.Length)];

    public static TheoryData<int> StopIndexes => [.. Enumerable.Range(0, StopMessages.Length)];

    [Theory]
    [MemberData(nameof(HopIndexes))]
    public async Task HopMessage_RoundTrips(int index)
    {
        HopMessage message = HopMessages[index];
        var pipe = new Pipe();

        await MessageIO.WriteAsync(pipe.Writer, message, CancellationToken.None);
        HopMessage decoded = await MessageIO.ReadHopAsync(pipe.Reader, CancellationToken.None);

        decoded.Should().Be(message);
    }

    private static readonly StopMessage[] StopMessages =
    [
        new StopMessage { Type = StopMessage.Types.Type.Connect, Peer = new Peer { Id = ByteString.CopyFrom(PeerA) } },
        new StopMessage { Type = StopMessage.Types.Type.Connect, Peer = new Peer { Id = ByteString.CopyFrom(PeerA) }, Limit = new Limit { Duration = 1, Data = 1 } },
        new StopMessage { Type = StopMessage.Types.Type.Status, Status = Status.Ok },
        new StopMessage { Type = StopMessage.Types.Type.Status, Status = Status.ConnectionFailed },
    ];

    [Theory]
    [MemberData(nameof(StopIndexes))]
    public async Task StopMessage_RoundTrips(int index)
    {
        StopMessage message = StopMessages[index];
        var pipe = new Pipe();

        await MessageIO.WriteAsync(pipe.Writer, message, CancellationToken.None);
        StopMessage decoded = await MessageIO.ReadStopAsync(pipe.Reader, CancellationToken.None);

        decoded.Should().Be(message);
    }

    [Fact]
    public async Task Status_Encodes_AsVarint()
    {
        var pipe = new Pipe();

        await MessageIO.WriteAsync(pipe.Writer, MessageIO.HopStatus(RelayStatus.ReservationRefused), CancellationToken.None);
        await pipe.Writer.CompleteAsync();

        // type=STATUS (08 02), status=200 (28 c8 01)
        (await ReadAllAsync(pipe.Reader)).Should().Equal(0x05, 0x08, 0x02, 0x28, 0xc8, 0x01);
    }

    [Fact]
    public async Task ReadHop_FollowedByCircuitBytes_LeavesThemInThePipe()
    {
        var pipe = new Pipe();
        await MessageIO.WriteAsync(pipe.Writer, MessageIO.HopStatus(RelayStatus.Ok), CancellationToken.None);
        await pipe.Writer.WriteAsync(new byte[] { 1, 2, 3 });
        await pipe.Writer.CompleteAsync();

        await MessageIO.ReadHopAsync(pipe.Reader, CancellationToken.None);

        (await ReadAllAsync(pipe.Reader)).Should().Equal(1, 2, 3);
    }

    [Fact]
    public async Task ReadHop_Oversized_ThrowsMalformedBeforeTheBody()
    {
        var pipe = new Pipe();
        await pipe.Writer.WriteAsync(Multiformats.Varint.Encode(4097));

        Func<Task> act = () => MessageIO.ReadHopAsync(pipe.Reader, CancellationToken.None).AsTask();

        (await act.Should().ThrowAsync<ProtocolViolationException>()).Which.Status.Should().Be(RelayStatus.MalformedMessage);
    }

    [Fact]
    public void Limit_ZeroOrAbsent_MeansUnlimited()
    {
        MessageIO.ToWire((RelayLimit?)null).Should().BeNull();
        MessageIO.ToWire(new RelayLimit(TimeSpan.Zero, 0)).Should().BeNull();
        MessageIO.FromWire((Limit?)null).Should().BeNull();
        MessageIO.FromWire(new Limit()).Should().BeNull();
        MessageIO.FromWire(new Limit { Duration = 0, Data = 0 }).Should().BeNull();
        MessageIO.FromWire(new Limit { Duration = 120 }).Should().Be(new RelayLimit(TimeSpan.FromMinutes(2), 0));
        MessageIO.ToWire(new RelayLimit(TimeSpan.FromSeconds(120), 131072)).Should().Be(new Limit { Duration = 120, Data = 131072 });
    }

    [Fact]
    public void Status_EveryWireValue_MapsBothWays()
    {
        foreach (RelayStatus status in Enum.GetValues<RelayStatus>())
        {
            MessageIO.FromWire(MessageIO.ToWire(status)).Should().Be(status);
            ((int)MessageIO.ToWire(status)).Should().Be((int)status);
        }

        RelayStatus.NoReservation.ToWireName().Should().Be("NO_RESERVATION");
        RelayStatus.ResourceLimitExceeded.ToWireName().Should().Be("RESOURCE_LIMIT_EXCEEDED");
        ((RelayStatus)999).ToWireName().Should().Be("999");
        RelayException.FromStatus(RelayStatus.PermissionDenied, "reserve").Message.Should().Be("reserve: permission denied (PERMISSION_DENIED)");
        MessageIO.FromWire(Status.Unused).Should().BeNull();
        MessageIO.FromWire((Status)999).Should().BeNull();
    }

    private static async Task<byte[]> ReadAllAsync(PipeReader reader)
    {
        var bytes = new List<byte>();
        while (true)
        {
            ReadResult result = await reader.ReadAsync();
            foreach (ReadOnlyMemory<byte> segment in result.Buffer)
            {
                bytes.AddRange(segment.ToArray());
            }

            reader.AdvanceTo(result.Buffer.End);
            if (result.IsCompleted)
            {
                return [.. bytes];
            }
        }
    }
}
