using System.Collections.Concurrent;
using System.ComponentModel;
using System.Diagnostics;
using System.Globalization;
using System.Threading.Channels;

namespace CircuitRelay.LoadTest;

/// <summary>
/// A peer running as a child process: stdout is read as one event per line, the last stderr lines are kept
/// for error messages, and stdin stays an open pipe (servers stop when it closes, so a load test that dies
/// leaves no orphans). Every child is registered until it has exited; <see cref="KillAll"/> kills the rest.
/// </summary>
internal sealed class ChildProcess : IAsyncDisposable
{
    private const int StderrTailLines = 30;

    private static readonly ConcurrentDictionary<int, ChildProcess> Live = new();

    private readonly Process _process;
    private readonly Channel<string> _lines = Channel.CreateUnbounded<string>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Queue<string> _stderrTail = new();
    private readonly Lock _stderrLock = new();
    private readonly Task _stdoutPump;
    private readonly Task _stderrPump;
    private int _disposed;

    private ChildProcess(string name, Process process)
    {
        Name = name;
        _process = process;
        Pid = process.Id;
        _stdoutPump = Task.Run(PumpStdoutAsync);
        _stderrPump = Task.Run(PumpStderrAsync);
    }

    /// <summary>A short label for messages, e.g. "dotnet relay".</summary>
    public string Name { get; }

    /// <summary>The process id.</summary>
    public int Pid { get; }

    /// <summary>The command line, for messages.</summary>
    public string CommandLine { get; private init; } = "";

    /// <summary>Starts <paramref name="fileName"/> with <paramref name="arguments"/>.</summary>
    /// <exception cref="LoadTestException">The program could not be started.</exception>
    public static ChildProcess Start(string name, string fileName, IEnumerable<string> arguments, string? workingDirectory = null)
    {
        var info = new ProcessStartInfo(fileName)
        {
            UseShellExecute = false,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = workingDirectory ?? Environment.CurrentDirectory,
        };
        foreach (string argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        info.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        string commandLine = fileName + " " + string.Join(' ', info.ArgumentList);
        Process process;
        try
        {
            process = Process.Start(info) ?? throw new LoadTestException($"{name}: could not start `{commandLine}`");
        }
        catch (Win32Exception ex)
        {
            throw new LoadTestException($"{name}: could not start `{commandLine}`: {ex.Message}", ex);
        }

        var child = new ChildProcess(name, process) { CommandLine = commandLine };
        Live[child.Pid] = child;
        return child;
    }

    /// <summary>Kills every child still running (and its descendants). Safe to call from any thread, more than once.</summary>
    public static void KillAll()
    {
        foreach (ChildProcess child in Live.Values)
        {
            child.Kill();
        }
    }

    /// <summary>
    /// Reads stdout lines until one starts with <paramref name="prefix"/> and returns the rest of that line.
    /// Lines before it are skipped. An <c>error …</c> line, the end of stdout or the timeout fail the step.
    /// </summary>
    /// <exception cref="LoadTestException">The process failed, exited or timed out first.</exception>
    public async Task<string> WaitForLineAsync(string prefix, TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout);
        try
        {
            while (await _lines.Reader.WaitToReadAsync(deadline.Token))
            {
                while (_lines.Reader.TryRead(out string? line))
                {
                    if (line.StartsWith(prefix, StringComparison.Ordinal))
                    {
                        return line[prefix.Length..];
                    }

                    if (line.StartsWith("error ", StringComparison.Ordinal))
                    {
                        throw new LoadTestException($"{Name} (pid {Pid}) failed: {line}{StderrSuffix()}");
                    }
                }
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new LoadTestException($"{Name} (pid {Pid}) did not print '{prefix.Trim()}' within {timeout.TotalSeconds:F0} s{StderrSuffix()}");
        }

        string exit = await DescribeExitAsync();
        throw new LoadTestException($"{Name} (pid {Pid}) {exit} before printing '{prefix.Trim()}'{StderrSuffix()}");
    }

    /// <summary>Reads every stdout line until the process closes stdout (for short commands such as <c>--help</c>).</summary>
    /// <exception cref="LoadTestException">It did not finish in time.</exception>
    public async Task<IReadOnlyList<string>> ReadAllLinesAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout);
        List<string> lines = [];
        try
        {
            await foreach (string line in _lines.Reader.ReadAllAsync(deadline.Token))
            {
                lines.Add(line);
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new LoadTestException($"{Name} (pid {Pid}) did not finish within {timeout.TotalSeconds:F0} s{StderrSuffix()}");
        }

        return lines;
    }

    /// <summary>Waits for the process to exit and returns its exit code; kills it on timeout.</summary>
    /// <exception cref="LoadTestException">It did not exit in time.</exception>
    public async Task<int> WaitForExitAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        try
        {
            await _process.WaitForExitAsync(cancellationToken).WaitAsync(timeout, cancellationToken);
        }
        catch (TimeoutException)
        {
            Kill();
            throw new LoadTestException($"{Name} (pid {Pid}) did not exit within {timeout.TotalSeconds:F0} s; killed{StderrSuffix()}");
        }

        Live.TryRemove(Pid, out _);
        return _process.ExitCode;
    }

    /// <summary>The last stderr lines, for an error message.</summary>
    public string StderrTail()
    {
        lock (_stderrLock)
        {
            return string.Join(Environment.NewLine, _stderrTail);
        }
    }

    /// <summary>
    /// Closes stdin (the peers' orderly stop signal), gives the process a few seconds to exit, then kills it.
    /// Idempotent.
    /// </summary>
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
        catch (Exception ex) when (ex is IOException or InvalidOperationException or ObjectDisposedException)
        {
            // Already gone.
        }

        try
        {
            await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
        }
        catch (TimeoutException)
        {
            Kill();
        }

        await Task.WhenAll(_stdoutPump, _stderrPump).WaitAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        Live.TryRemove(Pid, out _);
        _process.Dispose();
    }

    /// <summary>Sends a POSIX signal (9 SIGKILL, 19 SIGSTOP, 18 SIGCONT) to the process.</summary>
    /// <exception cref="LoadTestException">The signal could not be sent.</exception>
    public void Signal(int signal)
    {
        if (SendSignal(Pid, signal) != 0)
        {
            throw new LoadTestException($"{Name} (pid {Pid}): kill -{signal} failed (errno {System.Runtime.InteropServices.Marshal.GetLastPInvokeError()})");
        }
    }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int SendSignal(int pid, int signal);

    private void Kill()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
            }
        }
        catch (Exception ex) when (ex is InvalidOperationException or Win32Exception or NotSupportedException)
        {
            // Exited meanwhile, or never started.
        }
    }

    private async Task<string> DescribeExitAsync()
    {
        try
        {
            await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(5));
            return "exited with code " + _process.ExitCode.ToString(CultureInfo.InvariantCulture);
        }
        catch (TimeoutException)
        {
            return "closed its stdout";
        }
    }

    private string StderrSuffix()
    {
        string tail = StderrTail();
        return tail.Length == 0 ? "" : $"{Environment.NewLine}  last stderr lines of {Name}:{Environment.NewLine}    " + tail.Replace(Environment.NewLine, Environment.NewLine + "    ", StringComparison.Ordinal);
    }

    private async Task PumpStdoutAsync()
    {
        try
        {
            while (await _process.StandardOutput.ReadLineAsync() is { } line)
            {
                _lines.Writer.TryWrite(line);
            }
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException or InvalidOperationException)
        {
            // The process is gone.
        }
        finally
        {
            _lines.Writer.TryComplete();
        }
    }

    private async Task PumpStderrAsync()
    {
        try
        {
            while (await _process.StandardError.ReadLineAsync() is { } line)
            {
                lock (_stderrLock)
                {
                    _stderrTail.Enqueue(line);
                    if (_stderrTail.Count > StderrTailLines)
                    {
                        _stderrTail.Dequeue();
                    }
                }
            }
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException or InvalidOperationException)
        {
            // The process is gone.
        }
    }
}
