using System.Globalization;

namespace CircuitRelay.LoadTest;

/// <summary>A process's resident memory from <c>/proc/&lt;pid&gt;/status</c>, in KiB.</summary>
/// <param name="RssKiB">VmRSS: resident now.</param>
/// <param name="HwmKiB">VmHWM: the peak resident size so far.</param>
internal readonly record struct ProcMemory(long RssKiB, long HwmKiB)
{
    /// <summary>Reads VmRSS and VmHWM of <paramref name="pid"/>.</summary>
    /// <exception cref="LoadTestException">Not Linux, the process is gone, or the fields are missing.</exception>
    public static ProcMemory Read(int pid)
    {
        (string path, string text) = ProcFile.Read(pid, "status");
        string[] lines = text.Split('\n');
        return new ProcMemory(Field(lines, "VmRSS:", path), Field(lines, "VmHWM:", path));
    }

    public static string Mib(long kib) => (kib / 1024.0).ToString("F1", CultureInfo.InvariantCulture) + " MiB";

    // "VmRSS:\t   51234 kB"
    private static long Field(string[] lines, string name, string path)
    {
        foreach (string line in lines)
        {
            if (!line.StartsWith(name, StringComparison.Ordinal))
            {
                continue;
            }

            string[] parts = line[name.Length..].Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length == 2 && parts[1] == "kB" && long.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out long kib))
            {
                return kib;
            }

            throw new LoadTestException($"unexpected line in {path}: '{line}'");
        }

        throw new LoadTestException($"{path} has no {name.TrimEnd(':')} line");
    }
}

/// <summary>Reads files of <c>/proc/&lt;pid&gt;/</c>.</summary>
internal static class ProcFile
{
    /// <summary>The whole of <c>/proc/&lt;pid&gt;/&lt;name&gt;</c> and its path (for messages).</summary>
    /// <exception cref="LoadTestException">Not Linux, or the process is gone.</exception>
    public static (string Path, string Text) Read(int pid, string name)
    {
        string path = $"/proc/{pid.ToString(CultureInfo.InvariantCulture)}/{name}";
        try
        {
            return (path, File.ReadAllText(path));
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new LoadTestException($"cannot read {path} (the load test needs Linux /proc and a running process): {ex.Message}", ex);
        }
    }
}
