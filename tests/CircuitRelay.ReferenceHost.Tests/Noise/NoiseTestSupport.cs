using System.Buffers;
using System.IO.Pipelines;
using System.Security.Cryptography;
using CircuitRelay.Crypto;
using CircuitRelay.Abstractions;
using CircuitRelay.ReferenceHost.Noise;

namespace CircuitRelay.ReferenceHost.Tests.Noise;

internal static class NoiseTestSupport
{
    public static readonly IReadOnlyList<string> Yamux = ["/yamux/1.0.0"];

    /// <summary>Two raw endpoints joined by two pipes (what one writes, the other reads).</summary>
    public static (IDuplexPipe Initiator, IDuplexPipe Responder) CreateRawPair()
    {
        var toResponder = new Pipe();
        var toInitiator = new Pipe();
        return (new DuplexPipe(toInitiator.Reader, toResponder.Writer), new DuplexPipe(toResponder.Reader, toInitiator.Writer));
    }

    public static Task<NoiseSession> RespondAsync(IDuplexPipe raw, ILocalIdentity identity, IReadOnlyList<string>? muxers = null, CancellationToken cancellationToken = default) =>
        NoiseHandshake.RespondAsync(raw, identity, SignatureVerifier.Default, muxers ?? Yamux, Curve25519.Default, cancellationToken);

    public static Task<NoiseSession> InitiateAsync(IDuplexPipe raw, ILocalIdentity identity, PeerId? expected, IReadOnlyList<string>? muxers = null, CancellationToken cancellationToken = default) =>
        NoiseHandshake.InitiateAsync(raw, identity, SignatureVerifier.Default, expected, muxers ?? Yamux, Curve25519.Default, cancellationToken);

    /// <summary>Runs both sides of a handshake concurrently over <paramref name="initiatorRaw"/> / <paramref name="responderRaw"/>.</summary>
    public static async Task<(NoiseSession Initiator, NoiseSession Responder)> HandshakeAsync(
        IDuplexPipe initiatorRaw,
        IDuplexPipe responderRaw,
        ILocalIdentity initiator,
        ILocalIdentity responder,
        IReadOnlyList<string>? initiatorMuxers = null,
        IReadOnlyList<string>? responderMuxers = null)
    {
        Task<NoiseSession> respond = RespondAsync(responderRaw, responder, responderMuxers);
        Task<NoiseSession> initiate = InitiateAsync(initiatorRaw, initiator, responder.PeerId, initiatorMuxers);
        return (await initiate.Within(), await respond.Within());
    }

    /// <summary>Reads <paramref name="reader"/> to its end, hashing as it goes (SHA-256), and returns the hash and byte count.</summary>
    public static async Task<(byte[] Hash, long Length)> HashToEndAsync(this PipeReader reader)
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        long length = 0;
        while (true)
        {
            ReadResult result = await reader.ReadAsync();
            foreach (ReadOnlyMemory<byte> segment in result.Buffer)
            {
                sha.AppendData(segment.Span);
                length += segment.Length;
            }

            reader.AdvanceTo(result.Buffer.End);
            if (result.IsCompleted)
            {
                await reader.CompleteAsync();
                return (sha.GetHashAndReset(), length);
            }
        }
    }

    /// <summary>Reads exactly <paramref name="count"/> bytes (fails on a premature end).</summary>
    public static async Task<byte[]> ReadExactlyAsync(this PipeReader reader, int count)
    {
        while (true)
        {
            ReadResult result = await reader.ReadAsync();
            if (result.Buffer.Length >= count)
            {
                byte[] bytes = result.Buffer.Slice(0, count).ToArray();
                reader.AdvanceTo(result.Buffer.GetPosition(count));
                return bytes;
            }

            reader.AdvanceTo(result.Buffer.Start, result.Buffer.End);
            if (result.IsCompleted)
            {
                throw new EndOfStreamException($"Expected {count} bytes, got {result.Buffer.Length}.");
            }
        }
    }

    /// <summary>Writes all of <paramref name="data"/> in chunks, counting what the pipe accepted, then completes the writer.</summary>
    public static async Task WriteAllAsync(this PipeWriter writer, ReadOnlyMemory<byte> data, int chunk = 64 * 1024, StrongBox<long>? accepted = null)
    {
        for (int offset = 0; offset < data.Length; offset += chunk)
        {
            int length = Math.Min(chunk, data.Length - offset);
            FlushResult result = await writer.WriteAsync(data.Slice(offset, length));
            if (accepted is not null)
            {
                Interlocked.Add(ref accepted.Value, length);
            }

            if (result.IsCompleted)
            {
                throw new IOException("The reader went away.");
            }
        }

        await writer.CompleteAsync();
    }

    /// <summary>Parses <c>u16be length ‖ body</c> frames from <paramref name="bytes"/>; a partial tail is an error.</summary>
    public static List<byte[]> ParseFrames(ReadOnlySpan<byte> bytes)
    {
        var frames = new List<byte[]>();
        while (!bytes.IsEmpty)
        {
            bytes.Length.Should().BeGreaterThanOrEqualTo(2, "a frame starts with a 2-byte length");
            int length = (bytes[0] << 8) | bytes[1];
            bytes.Length.Should().BeGreaterThanOrEqualTo(2 + length, "the frame body is complete");
            frames.Add(bytes.Slice(2, length).ToArray());
            bytes = bytes[(2 + length)..];
        }

        return frames;
    }
}

internal sealed class StrongBox<T>
{
    public T Value = default!;
}

internal sealed class DuplexPipe(PipeReader input, PipeWriter output) : IDuplexPipe
{
    public PipeReader Input { get; } = input;

    public PipeWriter Output { get; } = output;
}

/// <summary>Identities of the key types the tests use; disposes them.</summary>
internal sealed class TestIdentities : IDisposable
{
    private readonly List<KeyIdentity> _all = [];

    public KeyIdentity Ed25519() => Add(PrivateKey.GenerateEd25519());

    public KeyIdentity Secp256k1() => Add(PrivateKey.GenerateSecp256k1());

    public KeyIdentity EcdsaP256() => Add(PrivateKey.GenerateEcdsaP256());

    public void Dispose()
    {
        foreach (KeyIdentity identity in _all)
        {
            identity.Dispose();
        }
    }

    private KeyIdentity Add(PrivateKey key)
    {
        var identity = new KeyIdentity(key);
        _all.Add(identity);
        return identity;
    }
}

/// <summary>An X25519 provider whose "generated" keys are given in advance (for known-answer tests).</summary>
internal sealed class FixedKeyCurve25519(params byte[][] privateKeys) : ICurve25519
{
    private readonly Queue<byte[]> _keys = new(privateKeys);

    public void X25519GenerateKey(Span<byte> privateKey32, Span<byte> publicKey32)
    {
        byte[] next = _keys.Dequeue();
        next.CopyTo(privateKey32);
        Curve25519.Default.X25519GetPublicKey(next, publicKey32);
    }

    public void X25519GetPublicKey(ReadOnlySpan<byte> privateKey32, Span<byte> publicKey32) => Curve25519.Default.X25519GetPublicKey(privateKey32, publicKey32);

    public bool X25519Agree(ReadOnlySpan<byte> privateKey32, ReadOnlySpan<byte> peerPublicKey32, Span<byte> sharedSecret32) =>
        Curve25519.Default.X25519Agree(privateKey32, peerPublicKey32, sharedSecret32);

    public void Ed25519GenerateKey(Span<byte> privateSeed32, Span<byte> publicKey32) => Curve25519.Default.Ed25519GenerateKey(privateSeed32, publicKey32);

    public void Ed25519GetPublicKey(ReadOnlySpan<byte> privateSeed32, Span<byte> publicKey32) => Curve25519.Default.Ed25519GetPublicKey(privateSeed32, publicKey32);

    public void Ed25519Sign(ReadOnlySpan<byte> privateSeed32, ReadOnlySpan<byte> message, Span<byte> signature64) => Curve25519.Default.Ed25519Sign(privateSeed32, message, signature64);

    public bool Ed25519Verify(ReadOnlySpan<byte> publicKey32, ReadOnlySpan<byte> message, ReadOnlySpan<byte> signature64) =>
        Curve25519.Default.Ed25519Verify(publicKey32, message, signature64);
}

/// <summary>
/// Two raw endpoints joined through forwarding loops that count (and optionally record or corrupt) the
/// bytes in each direction: a wire the tests can observe.
/// </summary>
internal sealed class WireTap : IAsyncDisposable
{
    public WireTap(bool record = true)
    {
        var initiatorOut = new Pipe();
        var responderIn = new Pipe();
        var responderOut = new Pipe();
        var initiatorIn = new Pipe();
        Initiator = new DuplexPipe(initiatorIn.Reader, initiatorOut.Writer);
        Responder = new DuplexPipe(responderIn.Reader, responderOut.Writer);
        ToResponder = new TapDirection(initiatorOut.Reader, responderIn.Writer, record);
        ToInitiator = new TapDirection(responderOut.Reader, initiatorIn.Writer, record);
    }

    public IDuplexPipe Initiator { get; }

    public IDuplexPipe Responder { get; }

    public TapDirection ToResponder { get; }

    public TapDirection ToInitiator { get; }

    public async ValueTask DisposeAsync()
    {
        await ToResponder.Pump.Within();
        await ToInitiator.Pump.Within();
    }
}

internal sealed class TapDirection
{
    private readonly PipeReader _source;
    private readonly PipeWriter _destination;
    private readonly MemoryStream? _recorded;
    private readonly Lock _lock = new();
    private readonly List<(long Count, TaskCompletionSource Done)> _waiters = [];
    private long _forwarded;
    private long _corruptOffset = -1;

    public TapDirection(PipeReader source, PipeWriter destination, bool record)
    {
        _source = source;
        _destination = destination;
        _recorded = record ? new MemoryStream() : null;
        Pump = Task.Run(PumpAsync);
    }

    public Task Pump { get; }

    public long Forwarded
    {
        get
        {
            lock (_lock)
            {
                return _forwarded;
            }
        }
    }

    /// <summary>The absolute stream offset of a byte to flip on its way through; -1 for none.</summary>
    public long CorruptOffset
    {
        get => Interlocked.Read(ref _corruptOffset);
        set => Interlocked.Exchange(ref _corruptOffset, value);
    }

    public byte[] Recorded()
    {
        lock (_lock)
        {
            return _recorded?.ToArray() ?? throw new InvalidOperationException("Not recording.");
        }
    }

    /// <summary>Completes once at least <paramref name="count"/> bytes have passed.</summary>
    public Task WhenForwardedAsync(long count)
    {
        lock (_lock)
        {
            if (_forwarded >= count)
            {
                return Task.CompletedTask;
            }

            var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _waiters.Add((count, done));
            return done.Task;
        }
    }

    private async Task PumpAsync()
    {
        Exception? error = null;
        try
        {
            while (true)
            {
                ReadResult result = await _source.ReadAsync();
                long corrupt = CorruptOffset;
                foreach (ReadOnlyMemory<byte> segment in result.Buffer)
                {
                    byte[] chunk = segment.ToArray();
                    long start = Forwarded;
                    if (corrupt >= start && corrupt < start + chunk.Length)
                    {
                        chunk[corrupt - start] ^= 0x01;
                    }

                    _destination.Write(chunk);
                    Advance(chunk);
                }

                _source.AdvanceTo(result.Buffer.End);
                FlushResult flush = await _destination.FlushAsync();
                if (flush.IsCompleted || result.IsCompleted)
                {
                    break;
                }
            }
        }
        catch (Exception ex)
        {
            error = ex;
        }
        finally
        {
            await _destination.CompleteAsync(error);
            await _source.CompleteAsync(error);
        }
    }

    private void Advance(byte[] chunk)
    {
        List<TaskCompletionSource> ready = [];
        lock (_lock)
        {
            _recorded?.Write(chunk);
            _forwarded += chunk.Length;
            for (int i = _waiters.Count - 1; i >= 0; i--)
            {
                if (_waiters[i].Count <= _forwarded)
                {
                    ready.Add(_waiters[i].Done);
                    _waiters.RemoveAt(i);
                }
            }
        }

        foreach (TaskCompletionSource done in ready)
        {
            done.TrySetResult();
        }
    }
}
