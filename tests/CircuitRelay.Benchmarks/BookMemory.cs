using System.Globalization;
using System.Net;
using CircuitRelay.Adverts;
using CircuitRelay.AutoRelay;
using CircuitRelay.Crypto;

namespace CircuitRelay.Benchmarks;

/// <summary>
/// The address book's retained memory at 10,000 relays, each known from a signed advert gossiped by two peers
/// (<c>dotnet run -c Release --project tests/CircuitRelay.Benchmarks -- --book-memory</c>). Baseline in the same run:
/// the sealed envelopes alone, the bytes any book must keep to forward adverts unchanged.
/// </summary>
internal static class BookMemory
{
    public const string Command = "--book-memory";
    private const int Relays = 10_000;

    public static int Run(TextWriter output)
    {
        var now = DateTimeOffset.UtcNow;
        var envelopes = new List<byte[]>(Relays);
        for (int i = 0; i < Relays; i++)
        {
            using var key = KeyIdentity.Generate();
            // Documentation addresses (2001:db8::/32), one /48 each; nothing is dialed.
            var address = Multiaddr.FromIPEndPoint(new IPEndPoint(new IPAddress([0x20, 0x01, 0x0d, 0xb8, (byte)(i >> 8), (byte)i, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]), 4001));
            envelopes.Add(new RelayAdvert(key.PeerId, [address], now, TimeSpan.FromHours(1)) { Capacity = 128 }.Seal(key));
        }

        using var viaA = KeyIdentity.Generate();
        using var viaB = KeyIdentity.Generate();
        long envelopeBytes = Measure(() => envelopes.Select(e => e.ToArray()).ToList());
        RelayAddressBook? book = null;
        long bookBytes = Measure(() =>
        {
            book = new RelayAddressBook(new RelayAddressBookOptions { MaxEntriesPerGossipPeer = Relays }, TimeProvider.System);
            foreach (byte[] envelope in envelopes)
            {
                SignedRelayAdvert advert = RelayAdvert.Open(envelope, SignatureVerifier.Default);
                book.AddAdvert(advert, viaA.PeerId);
                book.AddAdvert(advert, viaB.PeerId);
            }

            return book;
        });

        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"relays in the book: {book!.Count}, envelope size {envelopes.Average(e => e.Length):F0} B"));
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"baseline, the envelopes alone: {envelopeBytes / 1024.0 / 1024.0:F2} MiB ({envelopeBytes / (double)Relays:F0} B per relay)"));
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"address book:                  {bookBytes / 1024.0 / 1024.0:F2} MiB ({bookBytes / (double)Relays:F0} B per relay)"));
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"ratio book / envelopes: {bookBytes / (double)envelopeBytes:F2}"));
        GC.KeepAlive(book);
        return 0;
    }

    /// <summary>The managed memory still reachable from what <paramref name="build"/> returns, after full collections.</summary>
    private static long Measure(Func<object> build)
    {
        long before = Settle();
        object kept = build();
        long after = Settle();
        GC.KeepAlive(kept);
        return after - before;
    }

    private static long Settle()
    {
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
        GC.WaitForPendingFinalizers();
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
        return GC.GetTotalMemory(forceFullCollection: true);
    }
}
