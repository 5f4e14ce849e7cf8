using System.Net;
using System.Net.Sockets;
using System.Text;

namespace CircuitRelay.Node;

/// <summary>
/// The node's admin endpoint (<c>--admin-listen</c>): a tiny HTTP/1.1 responder over a <see cref="TcpListener"/> that
/// answers <c>GET /metrics</c> (and <c>GET /</c>) with the node's JSON snapshot. It is built to be harmless: one request
/// per connection (<c>Connection: close</c>), the request line and headers at most <see cref="MaxRequestBytes"/> bytes
/// and read within <see cref="RequestTimeout"/>, every connection done within <see cref="ConnectionTimeout"/>, and at
/// most <see cref="MaxConcurrentRequests"/> served at once: a connection beyond that is reset at once, so a flood never
/// blocks the accept loop or the node. Anything but GET is 405, an unknown path 404, a malformed request 400, an
/// oversized one 431, a slow one 408, another HTTP version 505.
/// </summary>
internal sealed class AdminEndpoint : IAsyncDisposable
{
    /// <summary>The most bytes read for the request line and headers.</summary>
    public const int MaxRequestBytes = 8 * 1024;

    /// <summary>Connections served at once; more are reset when accepted.</summary>
    public const int MaxConcurrentRequests = 8;

    /// <summary>How long a client has to send its request line and headers.</summary>
    public static readonly TimeSpan RequestTimeout = TimeSpan.FromSeconds(5);

    /// <summary>How long one connection may live in all (reading, answering, draining).</summary>
    public static readonly TimeSpan ConnectionTimeout = TimeSpan.FromSeconds(10);

    /// <summary><see cref="Response.Drain"/>: read until the client is quiet (the length of what follows is unknown).</summary>
    private const long UntilQuiet = -1;

    private const long MaxDrainBytes = 64 * 1024;
    private static readonly TimeSpan MaxDrainTime = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan QuietPeriod = TimeSpan.FromMilliseconds(200);
    private static readonly byte[] EndOfHeaders = "\r\n\r\n"u8.ToArray();
    private static readonly byte[] EndOfHeadersBare = "\n\n"u8.ToArray();

    private readonly TcpListener _listener;
    private readonly Func<string> _snapshot;
    private readonly CancellationTokenSource _stop = new();
    private readonly SemaphoreSlim _slots = new(MaxConcurrentRequests, MaxConcurrentRequests);
    private readonly HashSet<Task> _inFlight = [];
    private readonly Task _acceptLoop;
    private int _disposed;

    private AdminEndpoint(TcpListener listener, Func<string> snapshot)
    {
        _listener = listener;
        _snapshot = snapshot;
        var bound = (IPEndPoint)listener.LocalEndpoint;
        Address = new Uri($"http://{(bound.AddressFamily == AddressFamily.InterNetworkV6 ? $"[{bound.Address}]" : bound.Address.ToString())}:{bound.Port}/");
        _acceptLoop = Task.Run(AcceptLoopAsync);
    }

    /// <summary>Where it serves, e.g. <c>http://127.0.0.1:5001/</c>.</summary>
    public Uri Address { get; }

    /// <summary>Binds <paramref name="endPoint"/> (port 0: a free one) and serves <paramref name="snapshot"/>'s JSON.</summary>
    public static AdminEndpoint Start(IPEndPoint endPoint, Func<string> snapshot)
    {
        var listener = new TcpListener(endPoint);
        listener.Start(backlog: 64);
        return new AdminEndpoint(listener, snapshot);
    }

    /// <summary>
    /// Reads <c>--admin-listen &lt;ip&gt;:&lt;port&gt;</c>: a loopback address unless <paramref name="allowRemote"/>
    /// (<c>--admin-allow-remote</c>). Throws an <see cref="ArgumentException"/> naming the option otherwise.
    /// </summary>
    public static IPEndPoint ParseListen(string text, bool allowRemote, string flag = "--admin-listen")
    {
        if (!IPEndPoint.TryParse(text, out IPEndPoint? endPoint) || !text.Contains(':', StringComparison.Ordinal) || text.EndsWith(']'))
        {
            throw new ArgumentException($"{flag} '{text}' is not <ip>:<port> (e.g. 127.0.0.1:5001, [::1]:5001; port 0 picks a free one).");
        }

        if (endPoint.AddressFamily == AddressFamily.InterNetworkV6 && !text.StartsWith('['))
        {
            throw new ArgumentException($"{flag} '{text}': write an IPv6 address in brackets, [<ip>]:<port>.");
        }

        if (!IPAddress.IsLoopback(endPoint.Address) && !allowRemote)
        {
            throw new ArgumentException($"{flag} '{text}' is not a loopback address; the endpoint has no authentication, so serving it beyond this machine needs --admin-allow-remote.");
        }

        return endPoint;
    }

    /// <summary>Stops accepting, ends the connections being served and waits for them. Idempotent.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await _stop.CancelAsync();
        _listener.Stop();
        await _acceptLoop.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        Task[] pending;
        lock (_inFlight)
        {
            pending = [.. _inFlight];
        }

        await Task.WhenAll(pending).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        _stop.Dispose();
        _slots.Dispose();
    }

    private async Task AcceptLoopAsync()
    {
        CancellationToken stopping = _stop.Token;
        while (!stopping.IsCancellationRequested)
        {
            Socket socket;
            try
            {
                socket = await _listener.AcceptSocketAsync(stopping);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            catch (ObjectDisposedException)
            {
                return;
            }
            catch (SocketException) when (!stopping.IsCancellationRequested)
            {
                continue; // a connection reset before it was accepted
            }
            catch (SocketException)
            {
                return;
            }

            if (!_slots.Wait(0))
            {
                Reset(socket); // busy: never queue, never block the loop
                continue;
            }

            Task served = ServeAsync(socket, stopping);
            lock (_inFlight)
            {
                _inFlight.Add(served);
            }

            _ = served.ContinueWith(
                t =>
                {
                    lock (_inFlight)
                    {
                        _inFlight.Remove(t);
                    }
                },
                CancellationToken.None,
                TaskContinuationOptions.ExecuteSynchronously,
                TaskScheduler.Default);
        }
    }

    private async Task ServeAsync(Socket socket, CancellationToken stopping)
    {
        await Task.Yield(); // off the accept loop
        using (socket)
        using (var connection = CancellationTokenSource.CreateLinkedTokenSource(stopping))
        {
            connection.CancelAfter(ConnectionTimeout);
            try
            {
                if (await ReadRequestAsync(socket, connection.Token) is not { } response)
                {
                    return; // closed before sending anything
                }

                await socket.SendAsync(response.Encode(), SocketFlags.None, connection.Token);
                socket.Shutdown(SocketShutdown.Send);
                if (response.Drain != 0)
                {
                    await DrainAsync(socket, response.Drain, connection.Token);
                }
            }
            catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                // The client went away, was too slow, or the node is stopping: the connection just closes.
            }
            finally
            {
                _slots.Release();
            }
        }
    }

    /// <summary>Reads the request line and headers (bounded in size and time) and decides the answer (null: the client sent nothing and closed).</summary>
    private async Task<Response?> ReadRequestAsync(Socket socket, CancellationToken cancellationToken)
    {
        byte[] buffer = new byte[MaxRequestBytes];
        int length = 0;
        using var headerDeadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        headerDeadline.CancelAfter(RequestTimeout);
        while (true)
        {
            (int end, int terminator) = HeadersEnd(buffer.AsSpan(0, length));
            if (end >= 0)
            {
                Response answer = Answer(buffer.AsSpan(0, end));
                return answer with { Drain = BodyLeft(buffer.AsSpan(0, end), length - end - terminator) };
            }

            if (length == buffer.Length)
            {
                return Response.Text(431, "Request Header Fields Too Large", "request line and headers exceed 8 KiB") with { Drain = UntilQuiet };
            }

            int read;
            try
            {
                read = await socket.ReceiveAsync(buffer.AsMemory(length), SocketFlags.None, headerDeadline.Token);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                return Response.Text(408, "Request Timeout", "no complete request within 5 s") with { Drain = UntilQuiet };
            }

            if (read == 0)
            {
                return length == 0 ? null : Response.Text(400, "Bad Request", "incomplete request");
            }

            length += read;
        }
    }

    /// <summary>Where the headers end (-1: not yet) and the length of the blank line that ends them.</summary>
    private static (int End, int Terminator) HeadersEnd(ReadOnlySpan<byte> received)
    {
        int crlf = received.IndexOf(EndOfHeaders);
        int lf = received.IndexOf(EndOfHeadersBare);
        return crlf >= 0 && (lf < 0 || crlf < lf) ? (crlf, EndOfHeaders.Length) : (lf, EndOfHeadersBare.Length);
    }

    /// <summary>
    /// How much of a request body is still to come after the headers (and <paramref name="received"/> bytes past them),
    /// to be read and dropped after the answer so that closing does not reset the answer away: none for a request
    /// without a body, the rest of a Content-Length, <see cref="UntilQuiet"/> for a chunked or unreadable one.
    /// </summary>
    private static long BodyLeft(ReadOnlySpan<byte> head, int received)
    {
        long? contentLength = null;
        foreach (string line in Encoding.ASCII.GetString(head).Split('\n').Skip(1))
        {
            int colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon <= 0)
            {
                continue;
            }

            string name = line[..colon].Trim(), value = line[(colon + 1)..].Trim();
            if (name.Equals("Transfer-Encoding", StringComparison.OrdinalIgnoreCase))
            {
                return UntilQuiet;
            }

            if (name.Equals("Content-Length", StringComparison.OrdinalIgnoreCase))
            {
                if (!long.TryParse(value, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out long parsed))
                {
                    return UntilQuiet;
                }

                contentLength = parsed;
            }
        }

        return Math.Max(0, (contentLength ?? 0) - received);
    }

    private Response Answer(ReadOnlySpan<byte> head)
    {
        if (ContainsControl(head))
        {
            return Response.Text(400, "Bad Request", "request line and headers must be printable ASCII");
        }

        string text = Encoding.ASCII.GetString(head);
        string requestLine = text.Split('\n', 2)[0].TrimEnd('\r');
        string[] parts = requestLine.Split(' ');
        if (parts.Length != 3 || parts[0].Length == 0 || parts[1].Length == 0 || !parts[2].StartsWith("HTTP/", StringComparison.Ordinal))
        {
            return Response.Text(400, "Bad Request", "malformed request line");
        }

        if (!parts[2].StartsWith("HTTP/1.", StringComparison.Ordinal))
        {
            return Response.Text(505, "HTTP Version Not Supported", "HTTP/1.x only");
        }

        string target = parts[1];
        string path = target.Split('?', 2)[0];
        if (!path.StartsWith('/'))
        {
            return Response.Text(400, "Bad Request", "the request target must be a path");
        }

        if (parts[0] != "GET")
        {
            return Response.Text(405, "Method Not Allowed", "only GET", ("Allow", "GET"));
        }

        if (path is not ("/" or "/metrics"))
        {
            return Response.Text(404, "Not Found", "GET /metrics (or /) for the node's snapshot");
        }

        try
        {
            return new Response(200, "OK", "application/json; charset=utf-8", Encoding.UTF8.GetBytes(_snapshot() + "\n"), []);
        }
        catch (Exception ex)
        {
            Output.Log($"admin: the snapshot failed: {ex.GetType().Name}: {ex.Message}");
            return Response.Text(500, "Internal Server Error", "the snapshot failed");
        }
    }

    /// <summary>Control characters other than tab, CR and LF, or bytes above 0x7e.</summary>
    private static bool ContainsControl(ReadOnlySpan<byte> head)
    {
        foreach (byte b in head)
        {
            if (b is not (0x09 or 0x0a or 0x0d) && b is < 0x20 or > 0x7e)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>
    /// Reads and drops what the client still sends after our answer (<paramref name="bytes"/>, or until it is quiet for
    /// <see cref="QuietPeriod"/>), at most <see cref="MaxDrainBytes"/> and <see cref="MaxDrainTime"/>; then the connection closes.
    /// </summary>
    private static async Task DrainAsync(Socket socket, long bytes, CancellationToken cancellationToken)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(MaxDrainTime);
        byte[] sink = new byte[4096];
        long left = bytes == UntilQuiet ? MaxDrainBytes : Math.Min(bytes, MaxDrainBytes);
        try
        {
            while (left > 0)
            {
                using var quiet = CancellationTokenSource.CreateLinkedTokenSource(deadline.Token);
                if (bytes == UntilQuiet)
                {
                    quiet.CancelAfter(QuietPeriod);
                }

                int read = await socket.ReceiveAsync(sink.AsMemory(0, (int)Math.Min(sink.Length, left)), SocketFlags.None, quiet.Token);
                if (read == 0)
                {
                    return;
                }

                left -= read;
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            // Quiet, or draining took long enough: close.
        }
    }

    private static void Reset(Socket socket)
    {
        try
        {
            socket.LingerState = new LingerOption(true, 0);
        }
        catch (SocketException)
        {
            // Already gone.
        }

        socket.Dispose();
    }

    private sealed record Response(int Status, string Reason, string ContentType, byte[] Body, (string Name, string Value)[] Headers)
    {
        /// <summary>Request bytes still to come, read and dropped after the answer (0: none; <see cref="UntilQuiet"/>: unknown).</summary>
        public long Drain { get; init; }

        public static Response Text(int status, string reason, string message, params (string Name, string Value)[] headers)
            => new(status, reason, "text/plain; charset=utf-8", Encoding.UTF8.GetBytes(message + "\n"), headers);

        public byte[] Encode()
        {
            var head = new StringBuilder();
            head.Append(System.Globalization.CultureInfo.InvariantCulture, $"HTTP/1.1 {Status} {Reason}\r\n");
            head.Append(System.Globalization.CultureInfo.InvariantCulture, $"Content-Type: {ContentType}\r\n");
            head.Append(System.Globalization.CultureInfo.InvariantCulture, $"Content-Length: {Body.Length}\r\n");
            head.Append("Cache-Control: no-store\r\nConnection: close\r\n");
            foreach ((string name, string value) in Headers)
            {
                head.Append(System.Globalization.CultureInfo.InvariantCulture, $"{name}: {value}\r\n");
            }

            head.Append("\r\n");
            return [.. Encoding.ASCII.GetBytes(head.ToString()), .. Body];
        }
    }
}
