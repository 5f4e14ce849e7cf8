using System.Globalization;

namespace CircuitRelay.LoadTest;

/// <summary>A process's CPU time (user + system, all threads) from <c>/proc/&lt;pid&gt;/stat</c>.</summary>
internal static class ProcCpu
{
    /// <summary>USER_HZ, the unit of the stat file's times: 100 on every Linux architecture .NET runs on.</summary>
    private const double TicksPerSecond = 100;

    /// <summary>CPU seconds used so far by <paramref name="pid"/>.</summary>
    /// <exception cref="LoadTestException">Not Linux, the process is gone, or the file does not parse.</exception>
    public static double Seconds(int pid)
    {
        (string path, string stat) = ProcFile.Read(pid, "stat");

        // "pid (comm) state ppid … utime stime …": comm may hold spaces, so count from the last ')'.
        int close = stat.LastIndexOf(')');
        string[] fields = close < 0 ? [] : stat[(close + 2)..].Split(' ');
        if (fields.Length < 13
            || !long.TryParse(fields[11], NumberStyles.None, CultureInfo.InvariantCulture, out long user)
            || !long.TryParse(fields[12], NumberStyles.None, CultureInfo.InvariantCulture, out long system))
        {
            throw new LoadTestException($"unexpected content in {path}: '{stat.Trim()}'");
        }

        return (user + system) / TicksPerSecond;
    }
}
