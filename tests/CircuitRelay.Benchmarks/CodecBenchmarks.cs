using System.IO.Pipelines;
using BenchmarkDotNet.Attributes;
using CircuitRelay.Crypto;
using CircuitRelay.Protocol;
using CircuitRelay.Protocol.Pb;
using Google.Protobuf;
using ReservationVoucher = CircuitRelay.Crypto.ReservationVoucher;

namespace CircuitRelay.Benchmarks;

/// <summary>Hop/stop message encode and decode (with the length prefix), and voucher seal/verify.</summary>
[MemoryDiagnoser]
public class CodecBenchmarks
{
    private readonly KeyIdentity _relay = KeyIdentity.Generate();
    private readonly KeyIdentity _peer = KeyIdentity.Generate();
    private readonly Pipe _pipe = new();
    private HopMessage _reservation = null!;
    private StopMessage _stopConnect = null!;
    private byte[] _reservationBytes = null!;
    private byte[] _stopBytes = null!;
    private byte[] _voucher = null!;

    [GlobalSetup]
    public void Setup()
    {
        DateTimeOffset expiry = DateTimeOffset.FromUnixTimeSeconds(1_900_000_000);
        _voucher = new ReservationVoucher(_relay.PeerId, _peer.PeerId, expiry).Seal(_relay);
        _reservation = new HopMessage
        {
            Type = HopMessage.Types.Type.Status,
            Status = Status.Ok,
            Reservation = new Reservation
            {
                Expire = (ulong)expiry.ToUnixTimeSeconds(),
                Addrs = { ByteString.CopyFrom(Multiaddr.Parse("/ip4/198.51.100.1/tcp/4001").WithPeerId(_relay.PeerId).ToByteArray()) },
                Voucher = ByteString.CopyFrom(_voucher),
            },
            Limit = new Limit { Duration = 120, Data = 131072 },
        };
        _stopConnect = new StopMessage
        {
            Type = StopMessage.Types.Type.Connect,
            Peer = new Peer { Id = ByteString.CopyFrom(_peer.PeerId.ToByteArray()) },
            Limit = new Limit { Duration = 120, Data = 131072 },
        };
        _reservationBytes = _reservation.ToByteArray();
        _stopBytes = _stopConnect.ToByteArray();
    }

    [Benchmark]
    public async Task<object> HopReservation_EncodeDecode()
    {
        await MessageIO.WriteAsync(_pipe.Writer, _reservation, CancellationToken.None).ConfigureAwait(false);
        return await MessageIO.ReadHopAsync(_pipe.Reader, CancellationToken.None).ConfigureAwait(false);
    }

    [Benchmark]
    public async Task<object> StopConnect_EncodeDecode()
    {
        await MessageIO.WriteAsync(_pipe.Writer, _stopConnect, CancellationToken.None).ConfigureAwait(false);
        return await MessageIO.ReadStopAsync(_pipe.Reader, CancellationToken.None).ConfigureAwait(false);
    }

    [Benchmark]
    public object HopReservation_Decode() => HopMessage.Parser.ParseFrom(_reservationBytes);

    [Benchmark]
    public object StopConnect_Decode() => StopMessage.Parser.ParseFrom(_stopBytes);

    [Benchmark]
    public byte[] Voucher_Seal() => new ReservationVoucher(_relay.PeerId, _peer.PeerId, DateTimeOffset.FromUnixTimeSeconds(1_900_000_000)).Seal(_relay);

    [Benchmark]
    public ReservationVoucher Voucher_Verify() => ReservationVoucher.Open(_voucher, SignatureVerifier.Default);
}
