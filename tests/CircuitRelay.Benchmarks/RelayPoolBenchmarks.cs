using System.Net;
using BenchmarkDotNet.Attributes;
using CircuitRelay.Adverts;
using CircuitRelay.AutoRelay;
using CircuitRelay.Crypto;

namespace CircuitRelay.Benchmarks;

/// <summary>
/// Relay selection over a full address book (10,000 relays, each with two sources, 2,500 IPv6 /48 networks), against the
/// baseline of merely snapshotting the book's entries. Goal: selection within 1 ms.
/// </summary>
[MemoryDiagnoser]
public class RelayPoolBenchmarks
{
    private RelayAddressBook _book = null!;
    private RelayPool _pool = null!;
    private PeerId[] _held = [];

    [GlobalSetup]
    public void Setup()
    {
        var capability = new RelayCapabilityMetadata(RelayServices.Relay, 4001, 64, TimeSpan.FromHours(24), NodeRole.Public);
        _book = new RelayAddressBook(new RelayAddressBookOptions { MaxEntriesPerGossipPeer = 10_000 }, TimeProvider.System);
        using var viaA = KeyIdentity.Generate();
        using var viaB = KeyIdentity.Generate();
        var relays = new List<PeerId>();
        for (int i = 0; i < 10_000; i++)
        {
            // Distinct identity-multihash peer ids: the benchmark measures selection, not key generation.
            PeerId relay = PeerId.FromBytes([0x00, 0x24, 0x08, 0x01, 0x12, 0x20, .. new byte[28], .. BitConverter.GetBytes(i)]);
            // Documentation addresses (2001:db8::/32): four relays in each of 2,500 /48 networks; nothing is dialed.
            int network = i / 4;
            var address = Multiaddr.FromIPEndPoint(new IPEndPoint(new IPAddress([0x20, 0x01, 0x0d, 0xb8, (byte)(network >> 8), (byte)network, 0, 0, 0, 0, 0, 0, 0, 0, 0, (byte)(1 + (i % 4))]), 4001));
            _book.AddMetadata(relay, [address], capability, viaA.PeerId);
            _book.AddMetadata(relay, [address], capability, viaB.PeerId);
            relays.Add(relay);
        }

        _pool = new RelayPool(_book, new RelayPoolOptions { RngSeed = 1 }, TimeProvider.System);
        _held = [relays[0]];
    }

    [Benchmark(Baseline = true)]
    public int SnapshotEntries() => _book.GetEntries().Count;

    [Benchmark]
    public int SelectTwo() => _pool.Select(2, _held).Count;
}
