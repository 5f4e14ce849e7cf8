using System.IO.Compression;
using System.Text.RegularExpressions;
using System.Xml.Linq;

namespace CircuitRelay.Packaging.Tests;

/// <summary>One package as packed: its id and version (from its nuspec) and its two files.</summary>
internal sealed record PackedPackage(string Id, string Version, string NupkgPath, string SnupkgPath)
{
    /// <summary>Reads the nuspec inside the .nupkg.</summary>
    public XDocument ReadNuspec()
    {
        using ZipArchive zip = ZipFile.OpenRead(NupkgPath);
        ZipArchiveEntry entry = zip.Entries.Single(e => e.FullName.EndsWith(".nuspec", StringComparison.OrdinalIgnoreCase) && !e.FullName.Contains('/', StringComparison.Ordinal));
        using Stream stream = entry.Open();
        return XDocument.Load(stream);
    }
}

/// <summary>
/// Every package of the repository, packed once per test run into a folder that serves as a package source: the
/// projects under src/ whose csproj sets <c>IsPackable</c> to true (so a new package joins by itself). Packages that
/// .ci/run already packed into artifacts/packages are taken when they are newer than every input (src/, proto/ and the
/// repository's build files); otherwise each project is packed with <c>dotnet pack -c Release</c>.
/// </summary>
public sealed partial class PackedPackages : IAsyncLifetime
{
    /// <summary>The packages every release has; any further packable project is found on its own.</summary>
    public static readonly IReadOnlyList<string> RequiredIds = ["CircuitRelay", "CircuitRelay.Protocols", "CircuitRelay.ReferenceHost"];

    private static readonly TimeSpan PackTimeout = TimeSpan.FromMinutes(3);

    private readonly List<PackedPackage> _packages = [];

    /// <summary>The repository's root (where CircuitRelay.sln is), found from the test assembly's folder.</summary>
    public string RepositoryRoot { get; } = FindRepositoryRoot();

    /// <summary>A temporary folder outside the repository holding the .nupkg and .snupkg files.</summary>
    public string Feed { get; } = Path.Combine(Path.GetTempPath(), $"circuitrelay-feed-{Guid.NewGuid():N}");

    /// <summary>Where the packages came from, for the test output.</summary>
    public string Origin { get; private set; } = "";

    internal IReadOnlyList<PackedPackage> Packages => _packages;

    /// <summary>The packable projects under src/: (package id, csproj path).</summary>
    internal IReadOnlyList<(string Id, string Project)> PackableProjects { get; private set; } = [];

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(Feed);
        PackableProjects = FindPackableProjects(RepositoryRoot);
        string artifacts = Path.Combine(RepositoryRoot, "artifacts", "packages");
        if (TryReuse(artifacts))
        {
            Origin = $"reused from {artifacts} (newer than every input)";
            return;
        }

        foreach ((string _, string project) in PackableProjects)
        {
            DotnetResult pack = await DotnetCli.RunAsync(RepositoryRoot, PackTimeout, "pack", project, "-c", "Release", "-o", Feed, "-nodeReuse:false");
            if (pack.ExitCode != 0)
            {
                throw new InvalidOperationException($"Packing {project} failed: {pack.Describe()}");
            }
        }

        foreach ((string id, string _) in PackableProjects)
        {
            _packages.Add(FindPackage(Feed, id) ?? throw new InvalidOperationException($"`dotnet pack` produced no {id} package (.nupkg and .snupkg) in {Feed}."));
        }

        Origin = $"packed into {Feed}";
    }

    public Task DisposeAsync()
    {
        TryDelete(Feed);
        return Task.CompletedTask;
    }

    internal static void TryDelete(string directory)
    {
        try
        {
            if (Directory.Exists(directory))
            {
                Directory.Delete(directory, recursive: true);
            }
        }
        catch (IOException)
        {
            // A temp folder left behind is not a test failure.
        }
        catch (UnauthorizedAccessException)
        {
        }
    }

    private bool TryReuse(string artifacts)
    {
        if (!Directory.Exists(artifacts))
        {
            return false;
        }

        var found = new List<PackedPackage>();
        foreach ((string id, string _) in PackableProjects)
        {
            if (FindPackage(artifacts, id) is not { } package)
            {
                return false;
            }

            found.Add(package);
        }

        DateTime newestInput = NewestInput(RepositoryRoot);
        if (found.Any(p => File.GetLastWriteTimeUtc(p.NupkgPath) <= newestInput || File.GetLastWriteTimeUtc(p.SnupkgPath) <= newestInput))
        {
            return false;
        }

        foreach (PackedPackage package in found)
        {
            string nupkg = Path.Combine(Feed, Path.GetFileName(package.NupkgPath));
            string snupkg = Path.Combine(Feed, Path.GetFileName(package.SnupkgPath));
            File.Copy(package.NupkgPath, nupkg);
            File.Copy(package.SnupkgPath, snupkg);
            _packages.Add(package with { NupkgPath = nupkg, SnupkgPath = snupkg });
        }

        return true;
    }

    /// <summary>The newest <c>&lt;id&gt;.&lt;version&gt;.nupkg</c> in <paramref name="folder"/> with its .snupkg beside it.</summary>
    private static PackedPackage? FindPackage(string folder, string id)
    {
        var name = new Regex($"^{Regex.Escape(id)}\\.(?<version>[0-9]+\\.[0-9]+\\.[0-9]+[^/]*?)\\.nupkg$", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant);
        return Directory.EnumerateFiles(folder, "*.nupkg")
            .Select(path => (Path: path, Match: name.Match(Path.GetFileName(path))))
            .Where(f => f.Match.Success && File.Exists(Path.ChangeExtension(f.Path, ".snupkg")))
            .OrderByDescending(f => File.GetLastWriteTimeUtc(f.Path))
            .Select(f => new PackedPackage(id, f.Match.Groups["version"].Value, f.Path, Path.ChangeExtension(f.Path, ".snupkg")))
            .FirstOrDefault();
    }

    private static List<(string Id, string Project)> FindPackableProjects(string root)
    {
        var projects = new List<(string, string)>();
        foreach (string csproj in Directory.EnumerateFiles(Path.Combine(root, "src"), "*.csproj", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
        {
            string text = File.ReadAllText(csproj);
            if (!IsPackableRegex().IsMatch(text))
            {
                continue;
            }

            Match packageId = PackageIdRegex().Match(text);
            projects.Add((packageId.Success ? packageId.Groups[1].Value.Trim() : Path.GetFileNameWithoutExtension(csproj), csproj));
        }

        return projects;
    }

    /// <summary>The last write among the files a package is built from (bin/ and obj/ left out).</summary>
    private static DateTime NewestInput(string root)
    {
        static bool Generated(string path) => path.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}", StringComparison.Ordinal)
            || path.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal);

        IEnumerable<string> files = new[] { "src", "proto" }
            .Select(folder => Path.Combine(root, folder))
            .Where(Directory.Exists)
            .SelectMany(folder => Directory.EnumerateFiles(folder, "*", SearchOption.AllDirectories))
            .Where(path => !Generated(path))
            .Concat(new[] { "Directory.Build.props", "Directory.Build.targets", "Directory.Packages.props", "global.json", "LICENSE" }
                .Select(name => Path.Combine(root, name))
                .Where(File.Exists));
        return files.Select(File.GetLastWriteTimeUtc).DefaultIfEmpty(DateTime.MaxValue).Max();
    }

    private static string FindRepositoryRoot()
    {
        for (DirectoryInfo? directory = new(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "CircuitRelay.sln")))
            {
                return directory.FullName;
            }
        }

        throw new InvalidOperationException($"No CircuitRelay.sln above {AppContext.BaseDirectory}.");
    }

    [GeneratedRegex(@"<IsPackable>\s*true\s*</IsPackable>", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex IsPackableRegex();

    [GeneratedRegex(@"<PackageId>([^<]+)</PackageId>", RegexOptions.CultureInvariant)]
    private static partial Regex PackageIdRegex();
}
