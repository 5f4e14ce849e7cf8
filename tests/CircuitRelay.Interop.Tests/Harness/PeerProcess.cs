using System.ComponentModel;
using System.Diagnostics;
using System.Text;
using System.Threading.Channels;
using Xunit.Abstractions;

namespace CircuitRelay.Interop.Tests.Harness;

/// <summary>
/// One peer program (js or .NET) running as a child process. Its stdin is a pipe kept open for the
/// process's whole life: both CLIs stop their servers when stdin closes, so a test runner that dies
/// leaves no orphans. Stdout event lines go into a channel and are matched by prefix; stderr is kept
/// in a ring buffer and quoted in every failure. Disposal closes stdin, waits a grace period and then
/// kills the whole process tree, whatever the test's outcome.
/// </summary>
internal sealed class PeerProcess : IAsyncDisposable
{
    /// <summary>The default bound for every wait: generous, a peer starts in about a second.</summary>
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(60);

    private const int StderrCapacity = 200;
    private static readonly TimeSpan GracePeriod = TimeSpan.FromSeconds(6);

    private readonly Process _process;
    private readonly ITestOutputHelper? _output;
    private readonly Channel<string> _stdout = Channel.CreateUnbounded<string>(
        new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
    private readonly List<string> _seen = [];
    private readonly Queue<string> _stderr = new();
    private readonly Lock _stderrLock = new();
    private readonly SemaphoreSlim _readLock = new(1, 1);
    private readonly TaskCompletionSource _stdoutClosed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _stderrClosed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _disposed;
    private bool _stdinAtEnd;

    private PeerProcess(string name, ProcessStartInfo startInfo, ITestOutputHelper? output)
    {
        Name = name;
        _output = output;
        CommandLine = $"{startInfo.FileName} {string.Join(' ', startInfo.ArgumentList)}";
        _process = new Process { StartInfo = startInfo, EnableRaisingEvents = true };
        _process.OutputDataReceived += OnStdout;
        _process.ErrorDataReceived += OnStderr;
    }

    /// <summary>The name used in logs and failure messages, e.g. "js relay".</summary>
    public string Name { get; }

    /// <summary>The command line, for failure messages.</summary>
    public string CommandLine { get; }

    /// <summary>The process id.</summary>
    public int Pid => _process.Id;

    /// <summary>Whether the process has exited.</summary>
    public bool HasExited => _process.HasExited;

    /// <summary>Stdout lines consumed so far (all of them once <see cref="WaitForExitAsync"/> returned).</summary>
    public IReadOnlyList<string> Lines
    {
        get
        {
            lock (_seen)
            {
                return [.. _seen];
            }
        }
    }

    /// <summary>
    /// Starts <paramref name="fileName"/> with <paramref name="arguments"/>; stdin stays open until disposal, or is closed
    /// at once with <paramref name="stdinAtEnd"/> (as under systemd, nohup or a container without <c>-i</c>).
    /// </summary>
    public static PeerProcess Start(
        string name,
        string fileName,
        IEnumerable<string> arguments,
        string workingDirectory,
        ITestOutputHelper? output,
        IReadOnlyDictionary<string, string>? environment = null,
        bool stdinAtEnd = false)
    {
        var startInfo = new ProcessStartInfo(fileName)
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            CreateNoWindow = true,
            StandardOutputEncoding = System.Text.Encoding.UTF8,
            StandardErrorEncoding = System.Text.Encoding.UTF8,
        };
        foreach (var argument in arguments)
        {
            startInfo.ArgumentList.Add(argument);
        }

        if (environment is not null)
        {
            foreach (var (key, value) in environment)
            {
                startInfo.Environment[key] = value;
            }
        }

        var peer = new PeerProcess(name, startInfo, output);
        peer.Log($"start: {peer.CommandLine}");
        try
        {
            peer._process.Start();
        }
        catch (Win32Exception e)
        {
            peer._process.Dispose();
            throw new PeerProcessException($"{name}: could not start '{peer.CommandLine}': {e.Message}", e);
        }

        peer._process.BeginOutputReadLine();
        peer._process.BeginErrorReadLine();
        if (stdinAtEnd)
        {
            peer._stdinAtEnd = true;
            peer._process.StandardInput.Close();
        }

        return peer;
    }

    /// <summary>
    /// Waits for the first stdout line that is <paramref name="prefix"/> or starts with it followed by a
    /// space, and returns the rest of that line ("" when the line is the prefix alone). Lines read earlier
    /// count too, so the order of waits does not matter. Fails at once, with the peer's output, if the
    /// peer prints an <c>error</c> line (unless that is what is awaited), exits, or stays silent for
    /// <paramref name="timeout"/>.
    /// </summary>
    public Task<string> WaitForLineAsync(string prefix, TimeSpan? timeout = null) => WaitForLineAsync(prefix, static _ => true, timeout);

    /// <summary>
    /// As <see cref="WaitForLineAsync(string, TimeSpan?)"/>, for the first <paramref name="prefix"/> line whose rest
    /// <paramref name="accept"/> takes (for example a <c>reachable</c> line through another relay than before).
    /// </summary>
    public async Task<string> WaitForLineAsync(string prefix, Func<string, bool> accept, TimeSpan? timeout = null)
    {
        var bound = timeout ?? DefaultTimeout;
        using var cts = new CancellationTokenSource(bound);
        try
        {
            await _readLock.WaitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            throw Failure($"no '{prefix}' line within {bound.TotalSeconds:0} s (reader busy)");
        }

        try
        {
            foreach (var line in Lines)
            {
                if (TryMatch(line, prefix, out var rest) && accept(rest))
                {
                    return rest;
                }
            }

            while (true)
            {
                bool more;
                try
                {
                    more = await _stdout.Reader.WaitToReadAsync(cts.Token);
                }
                catch (OperationCanceledException)
                {
                    throw Failure($"no '{prefix}' line within {bound.TotalSeconds:0} s");
                }

                if (!more)
                {
                    var exit = await TryGetExitCodeAsync();
                    throw Failure($"stdout closed (exit code {exit?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "unknown"}) before a '{prefix}' line");
                }

                while (_stdout.Reader.TryRead(out var line))
                {
                    lock (_seen)
                    {
                        _seen.Add(line);
                    }

                    if (TryMatch(line, prefix, out var rest) && accept(rest))
                    {
                        return rest;
                    }

                    if (prefix != "error" && line.StartsWith("error", StringComparison.Ordinal))
                    {
                        throw Failure($"printed an error while the test waited for '{prefix}'");
                    }
                }
            }
        }
        finally
        {
            _readLock.Release();
        }
    }

    /// <summary>
    /// Waits until the process has exited and its stdout is fully read; returns the exit code. Throws
    /// with the peer's output if that takes longer than <paramref name="timeout"/>.
    /// </summary>
    public async Task<int> WaitForExitAsync(TimeSpan? timeout = null)
    {
        var bound = timeout ?? DefaultTimeout;
        using var cts = new CancellationTokenSource(bound);
        try
        {
            // Also waits for the redirected streams to reach EOF.
            await _process.WaitForExitAsync(cts.Token);
            // The channel's own Completion waits for the lines to be read too; this is EOF alone.
            await _stdoutClosed.Task.WaitAsync(cts.Token);
            await _readLock.WaitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            throw Failure($"did not exit within {bound.TotalSeconds:0} s");
        }

        try
        {
            while (_stdout.Reader.TryRead(out var line))
            {
                lock (_seen)
                {
                    _seen.Add(line);
                }
            }
        }
        finally
        {
            _readLock.Release();
        }

        return _process.ExitCode;
    }

    /// <summary>Sends a POSIX signal (SIGKILL, SIGSTOP, SIGCONT, …) to the process.</summary>
    public void Signal(PosixSignalNumber signal)
    {
        if (Kill(_process.Id, (int)signal) != 0)
        {
            throw new PeerProcessException($"{Name}: kill -{(int)signal} {_process.Id} failed (errno {System.Runtime.InteropServices.Marshal.GetLastPInvokeError()})");
        }

        Log($"sent signal {signal}");
    }

    /// <summary>The peer's stdout so far and the tail of its stderr, for assertion messages.</summary>
    public string Describe()
    {
        var text = new StringBuilder();
        text.Append(Name).Append(" (").Append(CommandLine).AppendLine(")");
        text.AppendLine("--- stdout ---");
        foreach (var line in Lines)
        {
            text.AppendLine(line);
        }

        text.AppendLine("--- stderr (tail) ---");
        lock (_stderrLock)
        {
            foreach (var line in _stderr)
            {
                text.AppendLine(line);
            }
        }

        return text.ToString();
    }

    /// <summary>Closes stdin (and sends SIGTERM to a daemon started with stdin at its end), waits a grace period for an orderly stop, then kills the process tree.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        try
        {
            _process.StandardInput.Close();
        }
        catch (IOException)
        {
            // The process is already gone and the pipe with it.
        }

        if (_stdinAtEnd && !_process.HasExited)
        {
            // A daemon ignores stdin: stop it the way its supervisor would.
            _ = Kill(_process.Id, (int)PosixSignalNumber.Terminate);
        }

        using (var grace = new CancellationTokenSource(GracePeriod))
        {
            try
            {
                await _process.WaitForExitAsync(grace.Token);
            }
            catch (OperationCanceledException)
            {
                Log($"did not stop within {GracePeriod.TotalSeconds:0} s of stdin closing; killing it");
            }
        }

        if (!_process.HasExited)
        {
            try
            {
                _process.Kill(entireProcessTree: true);
            }
            catch (InvalidOperationException)
            {
                // Exited in the meantime.
            }
            catch (Win32Exception e)
            {
                Log($"kill failed: {e.Message}");
            }

            using var killed = new CancellationTokenSource(GracePeriod);
            try
            {
                await _process.WaitForExitAsync(killed.Token);
            }
            catch (OperationCanceledException)
            {
                Log("still running after kill");
            }
        }

        using (var drained = new CancellationTokenSource(GracePeriod))
        {
            try
            {
                await _stderrClosed.Task.WaitAsync(drained.Token);
            }
            catch (OperationCanceledException)
            {
                // Keep what we have.
            }
        }

        lock (_stderrLock)
        {
            foreach (var line in _stderr)
            {
                Log($"err: {line}");
            }
        }

        _process.Dispose();
        _readLock.Dispose();
    }

    private static bool TryMatch(string line, string prefix, out string rest)
    {
        if (line == prefix)
        {
            rest = string.Empty;
            return true;
        }

        if (line.Length > prefix.Length && line.StartsWith(prefix, StringComparison.Ordinal) && line[prefix.Length] == ' ')
        {
            rest = line[(prefix.Length + 1)..];
            return true;
        }

        rest = string.Empty;
        return false;
    }

    private async Task<int?> TryGetExitCodeAsync()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        try
        {
            await _process.WaitForExitAsync(cts.Token);
            return _process.ExitCode;
        }
        catch (OperationCanceledException)
        {
            return null;
        }
    }

    private PeerProcessException Failure(string what) => new($"{Name} {what}.{Environment.NewLine}{Describe()}");

    private void OnStdout(object sender, DataReceivedEventArgs e)
    {
        if (e.Data is null)
        {
            _stdout.Writer.TryComplete();
            _stdoutClosed.TrySetResult();
            return;
        }

        Log($"out: {e.Data}");
        _stdout.Writer.TryWrite(e.Data);
    }

    private void OnStderr(object sender, DataReceivedEventArgs e)
    {
        if (e.Data is null)
        {
            _stderrClosed.TrySetResult();
            return;
        }

        lock (_stderrLock)
        {
            if (_stderr.Count == StderrCapacity)
            {
                _stderr.Dequeue();
            }

            _stderr.Enqueue(e.Data);
        }
    }

    private void Log(string message)
    {
        if (_output is null)
        {
            return;
        }

        try
        {
            _output.WriteLine($"{DateTime.UtcNow:HH:mm:ss.fff} [{Name}] {message}");
        }
        catch (InvalidOperationException)
        {
            // The test that owns the helper has finished (a shared peer outliving it).
        }
    }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int Kill(int pid, int signal);
}

/// <summary>The POSIX signals the tests send (Linux numbers).</summary>
internal enum PosixSignalNumber
{
    /// <summary>Kill at once: sockets are closed by the kernel.</summary>
    Kill = 9,

    /// <summary>Ask to stop (what systemd sends): a server exits in order.</summary>
    Terminate = 15,

    /// <summary>Resume a stopped process.</summary>
    Continue = 18,

    /// <summary>Freeze: the process's TCP connections stay open, nothing answers.</summary>
    Stop = 19,
}
