using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using CircuitRelay.ReferenceHost.Transports.Tcp;
using CircuitRelay.ReferenceHost.Tests.TestSupport;
using FluentAssertions;
using Xunit;

namespace CircuitRelay.ReferenceHost.Tests.Transports.Tcp;

public sealed class SocketPipeTests
{
    [Fact]
    public async Task Receive_PeerTricklesBytesOneByOne_BuffersGrowByTheBytesNotBySegments()
    {
        const int bytes = 300;
        var pool = new CountingPool();
        (Socket remote, Socket local) = await ConnectedPairAsync();
        using (remote)
        {
            await using var pipe = new SocketPipe(local, pool);

            // Like a peer that sends a Noise frame a byte at a time: each byte arrives alone, and the reader keeps
            // all of them (an incomplete frame) while it waits for more.
            byte[] received = [];
            for (int i = 1; i <= bytes; i++)
            {
                await remote.SendAsync(new[] { (byte)i }, SocketFlags.None);
                received = await WaitForBufferedAsync(pipe.Input, i, consume: i == bytes);
            }

            received.Should().Equal(Enumerable.Range(1, bytes).Select(i => (byte)i));

            // One segment holds them all; a segment per receive would be 300 × 256 KiB.
            pool.PeakOutstandingBytes.Should().BeLessThanOrEqualTo(SocketPipe.SegmentSize);
        }
    }

    [Fact]
    public async Task Receive_BulkData_ArrivesByteExactInLargeSegments()
    {
        const int size = 4 * 1024 * 1024;
        var pool = new CountingPool();
        (Socket remote, Socket local) = await ConnectedPairAsync();
        using (remote)
        {
            await using var pipe = new SocketPipe(local, pool);
            byte[] data = new byte[size];
            new Random(7).NextBytes(data);
            Task send = SendAllAsync(remote, data);

            byte[] received = new byte[size];
            int offset = 0;
            while (offset < size)
            {
                ReadResult result = await pipe.Input.ReadAsync().Within();
                result.Buffer.CopyTo(received.AsSpan(offset));
                offset += (int)result.Buffer.Length;
                pipe.Input.AdvanceTo(result.Buffer.End);
            }

            await send.Within();
            received.Should().Equal(data);
            pool.LargestRent.Should().Be(SocketPipe.SegmentSize);
        }
    }

    [Fact]
    public async Task Receive_IdleAfterData_HoldsNoBuffer()
    {
        var pool = new CountingPool();
        (Socket remote, Socket local) = await ConnectedPairAsync();
        using (remote)
        {
            await using var pipe = new SocketPipe(local, pool);
            await remote.SendAsync(new byte[1000], SocketFlags.None);
            await WaitForBufferedAsync(pipe.Input, 1000, consume: true);

            // Everything is read; the receive loop now waits for data with a zero-byte receive and no buffer.
            await pool.WaitForOutstandingAsync(0).Within();

            await remote.SendAsync(new byte[] { 42 }, SocketFlags.None);
            ReadResult result = await pipe.Input.ReadAsync().Within();
            result.Buffer.ToArray().Should().Equal((byte)42);
            pipe.Input.AdvanceTo(result.Buffer.End);
        }
    }

    /// <summary>Reads until <paramref name="count"/> bytes are buffered; returns them, consumed or left in the pipe.</summary>
    private static async Task<byte[]> WaitForBufferedAsync(PipeReader reader, long count, bool consume)
    {
        while (true)
        {
            ReadResult result = await reader.ReadAsync().Within();
            if (result.Buffer.Length >= count)
            {
                byte[] bytes = result.Buffer.ToArray();
                reader.AdvanceTo(consume ? result.Buffer.End : result.Buffer.Start, result.Buffer.End);
                return bytes;
            }

            reader.AdvanceTo(result.Buffer.Start, result.Buffer.End);

            result.IsCompleted.Should().BeFalse("the peer is still connected");
        }
    }

    private static async Task SendAllAsync(Socket socket, byte[] data)
    {
        for (int sent = 0; sent < data.Length;)
        {
            sent += await socket.SendAsync(data.AsMemory(sent), SocketFlags.None);
        }
    }

    private static async Task<(Socket Remote, Socket Local)> ConnectedPairAsync()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var remote = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        Task<Socket> accept = listener.AcceptSocketAsync();
        await remote.ConnectAsync(listener.LocalEndpoint).Within();
        return (remote, await accept.Within());
    }

    /// <summary>A memory pool that counts what is rented and not yet returned.</summary>
    private sealed class CountingPool : MemoryPool<byte>
    {
        private readonly Lock _lock = new();
        private readonly List<(long Outstanding, TaskCompletionSource Signal)> _waiters = [];
        private long _outstanding;

        public long PeakOutstandingBytes { get; private set; }

        public int LargestRent { get; private set; }

        public override int MaxBufferSize => int.MaxValue;

        public override IMemoryOwner<byte> Rent(int minBufferSize = -1)
        {
            int size = Math.Max(minBufferSize, 1);
            lock (_lock)
            {
                _outstanding += size;
                PeakOutstandingBytes = Math.Max(PeakOutstandingBytes, _outstanding);
                LargestRent = Math.Max(LargestRent, size);
            }

            return new Owner(this, new byte[size]);
        }

        public Task WaitForOutstandingAsync(long bytes)
        {
            lock (_lock)
            {
                if (_outstanding == bytes)
                {
                    return Task.CompletedTask;
                }

                var signal = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                _waiters.Add((bytes, signal));
                return signal.Task;
            }
        }

        protected override void Dispose(bool disposing)
        {
        }

        private void Return(int size)
        {
            lock (_lock)
            {
                _outstanding -= size;
                foreach ((long Outstanding, TaskCompletionSource Signal) waiter in _waiters.Where(w => w.Outstanding == _outstanding).ToList())
                {
                    waiter.Signal.TrySetResult();
                    _waiters.Remove(waiter);
                }
            }
        }

        private sealed class Owner(CountingPool pool, byte[] array) : IMemoryOwner<byte>
        {
            private int _disposed;

            public Memory<byte> Memory => array;

            public void Dispose()
            {
                if (Interlocked.Exchange(ref _disposed, 1) == 0)
                {
                    pool.Return(array.Length);
                }
            }
        }
    }
}
