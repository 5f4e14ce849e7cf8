using System.IO.Pipelines;
using CircuitRelay.Multiformats;

namespace CircuitRelay.Tests.Primitives;

/// <summary>Seeded random-input tests: malformed input must only ever produce the documented exception.</summary>
public sealed class RobustnessTests
{
    private const int Iterations = 10_000;

    [Fact]
    public void MultiaddrFromBytes_RandomInputs_ParseAndRoundTripOrThrowFormatException()
    {
        var random = new Random(20240601);
        int parsed = 0;
        for (int i = 0; i < Iterations; i++)
        {
            byte[] input = i % 3 == 0 ? RandomBytes(random, random.Next(0, 40)) : StructuredMultiaddr(random);
            Multiaddr addr;
            try
            {
                addr = Multiaddr.FromBytes(input);
            }
            catch (FormatException)
            {
                Multiaddr.TryFromBytes(input, out _).Should().BeFalse();
                continue;
            }

            parsed++;
            addr.ToByteArray().Should().Equal(input);
            Multiaddr.FromBytes(addr.ToByteArray()).Should().Be(addr);
            Multiaddr.Parse(addr.ToString()).Should().Be(addr, "the text {0} must parse back", addr);
        }

        // The generator must reach the success path often enough to be meaningful.
        parsed.Should().BeGreaterThan(Iterations / 10);
    }

    [Fact]
    public void MultiaddrParse_RandomText_ParsesAndRoundTripsOrThrowsFormatException()
    {
        var random = new Random(777);
        string[] tokens =
        [
            "/", "/", "/", "ip4", "ip6", "tcp", "udp", "dns", "dns4", "dnsaddr", "ip6zone", "p2p", "ipfs", "p2p-circuit",
            "certhash", "sni", "ws", "quic-v1", "192.0.2.4", "::1", "::ffff:192.0.2.4", "fe80::", "80", "65535", "65536", "-1",
            "example.com", "", " ", "%", "[", "]", "é", PeerIdTests.Ed25519PeerId, PeerIdTests.SpecQmCid,
            "uEiDDq4_xNyDorZBH3TlGazyJdOWSwvo4PUo5YHFMrvDE8g", "zQm", "1", "0", "x",
        ];
        int parsed = 0;
        for (int i = 0; i < Iterations; i++)
        {
            var builder = new System.Text.StringBuilder();
            int count = random.Next(0, 9);
            for (int j = 0; j < count; j++)
            {
                builder.Append(tokens[random.Next(tokens.Length)]);
            }

            string text = builder.ToString();
            Multiaddr addr;
            try
            {
                addr = Multiaddr.Parse(text);
            }
            catch (FormatException)
            {
                Multiaddr.TryParse(text, out _).Should().BeFalse();
                continue;
            }

            parsed++;
            Multiaddr.Parse(addr.ToString()).Should().Be(addr);
            Multiaddr.FromBytes(addr.ToByteArray()).Should().Be(addr);
        }

        parsed.Should().BeGreaterThan(100);
    }

    [Fact]
    public void VarintRead_RandomInputs_ReturnCanonicalValueOrThrowFormatException()
    {
        var random = new Random(5);
        for (int i = 0; i < Iterations; i++)
        {
            byte[] input = RandomBytes(random, random.Next(0, 12));
            for (int j = 0; j < input.Length; j++)
            {
                if (random.Next(3) != 0)
                {
                    input[j] |= 0x80;
                }
            }

            ulong value;
            int read;
            try
            {
                value = Varint.Read(input, out read);
            }
            catch (FormatException)
            {
                continue;
            }

            Varint.Encode(value).Should().Equal(input[..read]);
        }
    }

    [Fact]
    public async Task LengthPrefixedPipe_RandomFramesInRandomChunks_ReadBackInOrder()
    {
        var random = new Random(11);
        var pipe = new Pipe();
        List<byte[]> frames = Enumerable.Range(0, 200).Select(_ => RandomBytes(random, random.Next(0, 600))).ToList();
        byte[] wire = frames.SelectMany(f => (byte[])[.. Varint.Encode((ulong)f.Length), .. f]).ToArray();
        int[] chunks = RandomChunks(random, wire.Length);

        Task writer = Task.Run(async () =>
        {
            int offset = 0;
            foreach (int chunk in chunks)
            {
                await pipe.Writer.WriteAsync(wire.AsMemory(offset, chunk));
                offset += chunk;
            }

            await pipe.Writer.CompleteAsync();
        });

        foreach (byte[] expected in frames)
        {
            byte[]? frame = await LengthPrefixed.ReadAsync(pipe.Reader, 600).Within();
            frame.Should().Equal(expected);
        }

        (await LengthPrefixed.ReadAsync(pipe.Reader, 600).Within()).Should().BeNull();
        await writer.Within();
    }

    [Fact]
    public async Task LengthPrefixedStream_RandomFramesInRandomChunks_ReadBackInOrder()
    {
        var random = new Random(12);
        var pipe = new Pipe();
        List<byte[]> frames = Enumerable.Range(0, 200).Select(_ => RandomBytes(random, random.Next(0, 600))).ToList();
        byte[] wire = frames.SelectMany(f => (byte[])[.. Varint.Encode((ulong)f.Length), .. f]).ToArray();
        int[] chunks = RandomChunks(random, wire.Length);
        Stream stream = pipe.Reader.AsStream();

        Task writer = Task.Run(async () =>
        {
            int offset = 0;
            foreach (int chunk in chunks)
            {
                await pipe.Writer.WriteAsync(wire.AsMemory(offset, chunk));
                offset += chunk;
            }

            await pipe.Writer.CompleteAsync();
        });

        foreach (byte[] expected in frames)
        {
            byte[]? frame = await LengthPrefixed.ReadAsync(stream, 600).Within();
            frame.Should().Equal(expected);
        }

        (await LengthPrefixed.ReadAsync(stream, 600).Within()).Should().BeNull();
        await writer.Within();
    }

    [Fact]
    public async Task LengthPrefixedPipe_RandomBytes_ReturnFramesOrDocumentedExceptions()
    {
        var random = new Random(13);
        for (int i = 0; i < 2000; i++)
        {
            var pipe = new Pipe();
            byte[] input = RandomBytes(random, random.Next(0, 20));
            if (input.Length > 0 && random.Next(2) == 0)
            {
                input[0] = (byte)random.Next(0, 24);
            }

            await pipe.Writer.WriteAsync(input).Within();
            await pipe.Writer.CompleteAsync();
            try
            {
                while (await LengthPrefixed.ReadAsync(pipe.Reader, 16).Within() is not null)
                {
                }
            }
            catch (Exception ex) when (ex is InvalidDataException or EndOfStreamException)
            {
            }
        }
    }

    private static int[] RandomChunks(Random random, int total)
    {
        var chunks = new List<int>();
        while (total > 0)
        {
            int chunk = Math.Min(total, random.Next(3) == 0 ? 1 : random.Next(1, 300));
            chunks.Add(chunk);
            total -= chunk;
        }

        return [.. chunks];
    }

    private static byte[] StructuredMultiaddr(Random random)
    {
        var bytes = new List<byte>();
        int count = random.Next(1, 6);
        IReadOnlyList<MultiaddrProtocol> protocols = MultiaddrProtocol.Protocols;
        for (int c = 0; c < count; c++)
        {
            MultiaddrProtocol protocol = protocols[random.Next(protocols.Count)];
            bytes.AddRange(protocol.EncodedCode);
            if (protocol.Size > 0)
            {
                bytes.AddRange(RandomBytes(random, protocol.Size));
            }
            else if (protocol.Size == MultiaddrProtocol.VariableSize)
            {
                byte[] value = protocol.Kind switch
                {
                    MultiaddrValueKind.PeerId when random.Next(4) != 0 => random.Next(2) == 0
                        ? PeerId.Parse(PeerIdTests.Ed25519PeerId).ToByteArray()
                        : [0x12, 0x20, .. RandomBytes(random, 32)],
                    MultiaddrValueKind.Certhash when random.Next(4) != 0 => [0x12, 0x20, .. RandomBytes(random, 32)],
                    MultiaddrValueKind.Name when random.Next(4) != 0 => System.Text.Encoding.UTF8.GetBytes(RandomName(random)),
                    _ => RandomBytes(random, random.Next(0, 8)),
                };
                int declared = random.Next(8) == 0 ? value.Length + random.Next(-2, 3) : value.Length;
                bytes.AddRange(Varint.Encode((ulong)Math.Max(0, declared)));
                bytes.AddRange(value);
            }
        }

        byte[] result = [.. bytes];
        switch (random.Next(10))
        {
            case 0:
                result[random.Next(result.Length)] ^= (byte)(1 << random.Next(8));
                break;
            case 1:
                result = result[..random.Next(result.Length)];
                break;
        }

        return result;
    }

    private static string RandomName(Random random)
    {
        const string chars = "abcdefghijklmnopqrstuvwxyz0123456789.-é%:";
        var name = new char[random.Next(1, 12)];
        for (int i = 0; i < name.Length; i++)
        {
            name[i] = chars[random.Next(chars.Length)];
        }

        return new string(name);
    }

    private static byte[] RandomBytes(Random random, int length)
    {
        var bytes = new byte[length];
        random.NextBytes(bytes);
        return bytes;
    }
}
