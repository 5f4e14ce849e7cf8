using System.Buffers;
using System.Globalization;
using System.IO.Pipelines;
using CircuitRelay.Abstractions;
using CircuitRelay.Multiformats;
using CircuitRelay.Protocol;
using CircuitRelay.Protocol.Pb;
using CircuitRelay.Server;
using CircuitRelay.Tests.Infrastructure;
using FsCheck;
using FsCheck.Fluent;
using Google.Protobuf;
using Xunit.Abstractions;

namespace CircuitRelay.Tests.Relay;

/// <summary>
/// Mutated and random hop and stop frames (FsCheck generators, a fixed seed) against a relay and a reserved node on the
/// memory transport. The clock never moves: every input must be answered or reset at once, not by a timeout. Afterwards
/// nothing is left (requests, circuits, reservations, connections) and the relay still serves.
/// </summary>
/// <remarks>
/// 10,000 inputs in the suite; the long run is the same test with more:
/// <c>CIRCUITRELAY_FUZZ_INPUTS=100000 dotnet test tests/CircuitRelay.Tests -c Release --filter FrameFuzzTests</c>
/// (<c>CIRCUITRELAY_FUZZ_SEED</c> picks another seed). The outcome counts are written to the test output.
/// </remarks>
public sealed class FrameFuzzTests(ITestOutputHelper output)
{
    private const int DefaultInputs = 10_000;
    private const ulong DefaultSeed = 20261202;

    [Fact]
    public async Task HopAndStopFrames_MutatedAndRandom_EachAnsweredOrResetAtOnceAndNothingLeft()
    {
        int inputs = EnvironmentInt("CIRCUITRELAY_FUZZ_INPUTS", DefaultInputs);
        ulong seed = (ulong)EnvironmentInt("CIRCUITRELAY_FUZZ_SEED", (int)DefaultSeed);
        await using var fixture = RelayFixture.Create(o =>
        {
            o.ReservationRateLimitPerPeer = new RateLimitOptions { Permits = 0 };
            o.ConnectRateLimitPerPeer = new RateLimitOptions { Permits = 0 };
            o.ReservationRateLimitPerIp = new RateLimitOptions { Permits = 0 };
            o.ConnectRateLimitPerIp = new RateLimitOptions { Permits = 0 };
        });
        TestNode sender = fixture.CreateNode();
        TestNode target = fixture.CreateNode();
        await target.Client.ReserveAsync(fixture.RelayId, [fixture.RelayAddress]).Within();
        await sender.Host.DialAsync(fixture.RelayAddress).Within();
        byte[][] hopInputs = Gen.Sample(FrameGenerator(HopSeeds(target.Id)), inputs / 2, new Rnd(seed), 64);
        byte[][] stopInputs = Gen.Sample(FrameGenerator(StopSeeds(sender.Id)), inputs - (inputs / 2), new Rnd(seed + 1), 64);
        var outcomes = new Dictionary<string, int>(StringComparer.Ordinal);

        foreach (byte[] input in hopInputs)
        {
            ILibp2pStream stream = await sender.Host.OpenStreamAsync(fixture.RelayId, RelayProtocol.Hop).Within();
            Count(outcomes, "hop " + await SendAndAwaitAnswerAsync(stream, input, isHop: true));
        }

        foreach (byte[] input in stopInputs)
        {
            ILibp2pStream stream = await fixture.RelayHost.OpenStreamAsync(target.Id, RelayProtocol.Stop, new OpenStreamOptions { ExistingConnectionOnly = true }).Within();
            Count(outcomes, "stop " + await SendAndAwaitAnswerAsync(stream, input, isHop: false));
        }

        foreach ((string outcome, int count) in outcomes.OrderBy(o => o.Key, StringComparer.Ordinal))
        {
            output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{outcome}: {count}"));
        }

        outcomes.Values.Sum().Should().Be(inputs);
        await ListenerTests.WaitUntilAsync(() => fixture.Server.GetStatistics().PendingRequests == 0);
        fixture.Server.GetStatistics().ActiveCircuits.Should().Be(0);
        target.Client.Reservations.Should().ContainSingle("the fuzzed stop frames left the target's own reservation alone");

        await sender.Host.DisconnectAsync(fixture.RelayId).Within();
        await target.Client.DisposeAsync();
        await target.Host.DisconnectAsync(fixture.RelayId).Within();
        await ListenerTests.WaitUntilAsync(() => fixture.Server.GetStatistics() is { ActiveReservations: 0, TrackedPeers: 0 });
        fixture.RelayHost.GetConnections(sender.Id).Should().BeEmpty();
        fixture.RelayHost.GetConnections(target.Id).Should().BeEmpty();

        var (listener, circuits) = await fixture.CreateListenerAsync();
        var (dialer, accepted) = await fixture.ConnectAsync(fixture.CreateNode(), listener, circuits);
        await dialer.Output.WriteAsync(new byte[] { 42 }).Within();
        ReadResult echoed = await accepted.Input.ReadAsync().Within();
        echoed.Buffer.FirstSpan[0].Should().Be(42, "the relay still relays after {0} bad inputs", inputs);
    }

    /// <summary>Writes the input, half-closes, and waits (in real time; the virtual clock stays still) for the first answer byte, the end or a reset.</summary>
    private static async Task<string> SendAndAwaitAnswerAsync(ILibp2pStream stream, byte[] input, bool isHop)
    {
        try
        {
            try
            {
                await stream.Output.WriteAsync(input).Within();
                await stream.Output.CompleteAsync();
            }
            catch (IOException)
            {
                // Reset while writing: the answer was a reset.
            }

            ReadResult result;
            try
            {
                result = await stream.Input.ReadAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(10));
            }
            catch (IOException)
            {
                return "reset";
            }
            catch (TimeoutException)
            {
                throw new Xunit.Sdk.XunitException($"No answer, end or reset within 10 s for {(isHop ? "hop" : "stop")} input {Convert.ToHexString(input)}");
            }

            return result.Buffer.IsEmpty ? "closed without answer" : Describe(result.Buffer, isHop);
        }
        finally
        {
            stream.Abort();
            await stream.DisposeAsync();
        }
    }

    private static string Describe(ReadOnlySequence<byte> answer, bool isHop)
    {
        byte[] bytes = answer.ToArray();
        if (!Varint.TryRead(bytes, out ulong length, out int read) || (ulong)(bytes.Length - read) < length)
        {
            return "partial answer";
        }

        ReadOnlySpan<byte> body = bytes.AsSpan(read, (int)length);
        try
        {
            return isHop ? $"status {HopMessage.Parser.ParseFrom(body).Status}" : $"status {StopMessage.Parser.ParseFrom(body).Status}";
        }
        catch (InvalidProtocolBufferException)
        {
            return "undecodable answer";
        }
    }

    /// <summary>Random bytes, valid frames mutated (bit flips, truncation, insertion, a lying length prefix), and valid frames.</summary>
    private static Gen<byte[]> FrameGenerator(byte[][] seeds)
    {
        Gen<byte> anyByte = Gen.Choose(0, 255).Select(b => (byte)b);
        Gen<byte[]> random = Gen.Choose(0, 48).SelectMany(n => Gen.ArrayOf(anyByte, n));
        Gen<byte[]> mutated = Gen.Elements(seeds).SelectMany(seed => Gen.Choose(0, 4).SelectMany(op => Gen.Choose(0, 4095).SelectMany(at => anyByte.Select(value => Mutate(seed, op, at, value)))));
        Gen<byte[]> lying = Gen.Elements(seeds).SelectMany(seed => Gen.Choose(1, 5000).Select(extra => LieAboutLength(seed, extra)));
        return Gen.Frequency((2, random), (5, mutated), (2, lying), (1, Gen.Elements(seeds)));
    }

    private static byte[] Mutate(byte[] frame, int op, int at, byte value)
    {
        int position = frame.Length == 0 ? 0 : at % frame.Length;
        return op switch
        {
            0 => [.. frame.Select((b, i) => i == position ? (byte)(b ^ (1 << (value % 8))) : b)], // flip one bit
            1 => frame[..position],                                                               // truncate
            2 => [.. frame[..position], value, .. frame[position..]],                             // insert a byte
            3 => [.. frame.Select((b, i) => i == position ? value : b)],                          // overwrite a byte
            _ => [.. frame, .. frame],                                                             // the frame twice
        };
    }

    /// <summary>The frame's body behind a length prefix that promises <paramref name="extra"/> bytes more than follow.</summary>
    private static byte[] LieAboutLength(byte[] frame, int extra)
    {
        Varint.TryRead(frame, out ulong length, out int read).Should().BeTrue();
        byte[] body = frame[read..];
        return [.. Varint.Encode(length + (ulong)extra), .. body];
    }

    private static byte[][] HopSeeds(PeerId target) =>
    [
        Frame(new HopMessage { Type = HopMessage.Types.Type.Reserve }),
        Frame(new HopMessage { Type = HopMessage.Types.Type.Connect, Peer = new Peer { Id = ByteString.CopyFrom(target.ToByteArray()) } }),
        Frame(new HopMessage { Type = HopMessage.Types.Type.Connect, Peer = new Peer { Id = ByteString.CopyFrom(target.ToByteArray()), Addrs = { ByteString.CopyFrom(1, 2, 3) } } }),
        Frame(new HopMessage { Type = HopMessage.Types.Type.Status, Status = Status.Ok }),
    ];

    private static byte[][] StopSeeds(PeerId source) =>
    [
        Frame(new StopMessage { Type = StopMessage.Types.Type.Connect, Peer = new Peer { Id = ByteString.CopyFrom(source.ToByteArray()) }, Limit = new Limit { Duration = 120, Data = 131072 } }),
        Frame(new StopMessage { Type = StopMessage.Types.Type.Connect, Peer = new Peer { Id = ByteString.CopyFrom(source.ToByteArray()) } }),
        Frame(new StopMessage { Type = StopMessage.Types.Type.Status, Status = Status.Ok }),
    ];

    private static byte[] Frame(IMessage message)
    {
        byte[] body = message.ToByteArray();
        return [.. Varint.Encode((ulong)body.Length), .. body];
    }

    private static void Count(Dictionary<string, int> outcomes, string outcome) => outcomes[outcome] = outcomes.GetValueOrDefault(outcome) + 1;

    private static int EnvironmentInt(string name, int fallback)
        => int.TryParse(Environment.GetEnvironmentVariable(name), NumberStyles.None, CultureInfo.InvariantCulture, out int value) && value > 0 ? value : fallback;
}
