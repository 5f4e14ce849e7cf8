using System.Globalization;
using System.IO.Compression;
using System.Reflection.Metadata;
using System.Reflection.PortableExecutable;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using System.Xml.Linq;
using Xunit.Abstractions;

namespace CircuitRelay.Packaging.Tests;

/// <summary>
/// The packages as a consumer gets them: what each .nupkg and .snupkg carries, and a scratch console project outside the
/// repository (none of its Directory.Build.* or central versions apply) that restores them by version from a folder
/// source and runs a relay and a reservation over loopback TCP.
/// </summary>
public sealed partial class PackageConsumerTests : IClassFixture<PackedPackages>
{
    private static readonly TimeSpan BuildTimeout = TimeSpan.FromMinutes(4);
    private static readonly TimeSpan RunTimeout = TimeSpan.FromSeconds(90);
    private static readonly Guid SourceLinkGuid = new("CC110556-A091-4D38-9FEC-25AB9A351A6A");

    private readonly PackedPackages _packed;
    private readonly ITestOutputHelper _output;

    public PackageConsumerTests(PackedPackages packed, ITestOutputHelper output)
    {
        _packed = packed;
        _output = output;
        _output.WriteLine($"packages {packed.Origin}: {string.Join(", ", packed.Packages.Select(p => $"{p.Id} {p.Version}"))}");
    }

    [Fact]
    public void Packages_EveryPackableProject_CarryReadmeLicenseRepositorySymbolsAndSourceLink()
    {
        _packed.Packages.Select(p => p.Id).Should().Contain(PackedPackages.RequiredIds)
            .And.BeEquivalentTo(_packed.PackableProjects.Select(p => p.Id), "every project under src/ with IsPackable=true is packed");

        foreach (PackedPackage package in _packed.Packages)
        {
            XDocument nuspec = package.ReadNuspec();
            XNamespace ns = nuspec.Root!.Name.Namespace;
            XElement metadata = nuspec.Root.Element(ns + "metadata")!;
            string Field(string name) => metadata.Element(ns + name)?.Value ?? "";

            Field("id").Should().Be(package.Id);
            Field("description").Should().NotBeNullOrWhiteSpace($"{package.Id} has a description");
            Field("tags").Split(' ').Should().Contain("libp2p", $"{package.Id} is tagged");
            XElement? license = metadata.Element(ns + "license");
            license.Should().NotBeNull($"{package.Id} has a licence");
            license!.Attribute("type")?.Value.Should().Be("expression");
            license.Value.Should().Be("MIT");
            Field("readme").Should().Be("README.md");
            XElement? repository = metadata.Element(ns + "repository");
            repository.Should().NotBeNull($"{package.Id} publishes its repository (PublishRepositoryUrl)");
            repository!.Attribute("type")?.Value.Should().Be("git");
            repository.Attribute("url")?.Value.Should().StartWith("https://github.com/");
            repository.Attribute("commit")?.Value.Should().MatchRegex("^[0-9a-f]{40}$", $"{package.Id} names the commit it was built from");

            using (ZipArchive nupkg = ZipFile.OpenRead(package.NupkgPath))
            {
                string[] entries = [.. nupkg.Entries.Select(e => e.FullName)];
                entries.Should().Contain(["README.md", $"lib/net10.0/{package.Id}.dll", $"lib/net10.0/{package.Id}.xml"]);
                ReadEntry(nupkg, "README.md").Should().StartWith($"# {package.Id}", "the package's own README is packed");

                using var dll = new PEReader(new MemoryStream(ReadBytes(nupkg, $"lib/net10.0/{package.Id}.dll")));
                dll.ReadDebugDirectory().Select(d => d.Type).Should().Contain(DebugDirectoryEntryType.Reproducible, $"{package.Id} is built deterministically");
            }

            using ZipArchive snupkg = ZipFile.OpenRead(package.SnupkgPath);
            byte[] pdb = ReadBytes(snupkg, $"lib/net10.0/{package.Id}.pdb");
            using MetadataReaderProvider provider = MetadataReaderProvider.FromPortablePdbImage(System.Collections.Immutable.ImmutableArray.Create(pdb));
            MetadataReader reader = provider.GetMetadataReader();
            string sourceLink = reader.GetCustomDebugInformation(EntityHandle.ModuleDefinition)
                .Select(reader.GetCustomDebugInformation)
                .Where(info => reader.GetGuid(info.Kind) == SourceLinkGuid)
                .Select(info => Encoding.UTF8.GetString(reader.GetBlobBytes(info.Value)))
                .SingleOrDefault() ?? "";
            sourceLink.Should().Contain("https://raw.githubusercontent.com/", $"{package.Id}'s symbols map sources to the repository (SourceLink)");
        }
    }

    [Fact]
    public async Task ScratchConsumer_ReferencingThePackagesByVersion_RunsARelayAndReserves()
    {
        string scratch = Path.Combine(Path.GetTempPath(), $"circuitrelay-consumer-{Guid.NewGuid():N}");
        Path.GetFullPath(scratch).Should().NotStartWith(_packed.RepositoryRoot, "the consumer must not see the repository's build files");
        Directory.CreateDirectory(scratch);
        try
        {
            await WriteConsumerAsync(scratch);

            DotnetResult build = await DotnetCli.RunAsync(scratch, BuildTimeout, "build", "-c", "Release", "-nodeReuse:false");
            _output.WriteLine(build.Describe());
            build.ExitCode.Should().Be(0, "the consumer restores and builds against the packages: {0}", build.Describe());

            foreach (PackedPackage package in _packed.Packages)
            {
                string metadata = Path.Combine(scratch, "packages", package.Id.ToLowerInvariant(), package.Version.ToLowerInvariant(), ".nupkg.metadata");
                File.Exists(metadata).Should().BeTrue($"{package.Id} {package.Version} was restored into the consumer's own package folder");
                using JsonDocument json = JsonDocument.Parse(await File.ReadAllTextAsync(metadata));
                Path.GetFullPath(json.RootElement.GetProperty("source").GetString()!).TrimEnd('/').Should().Be(_packed.Feed.TrimEnd('/'), $"{package.Id} comes from the packed folder");
            }

            DotnetResult run = await DotnetCli.RunAsync(scratch, RunTimeout, Path.Combine(scratch, "bin", "Release", "net10.0", "Consumer.dll"));
            _output.WriteLine(run.Describe());
            run.ExitCode.Should().Be(0, "the consumer runs a relay and reserves on it: {0}", run.Describe());
            Match reserved = ReservedLine().Match(run.Output);
            reserved.Success.Should().BeTrue("the consumer prints `reserved <expiry> <relay>`: {0}", run.Describe());
            DateTimeOffset.Parse(reserved.Groups["expiry"].Value, CultureInfo.InvariantCulture).Should().BeAfter(DateTimeOffset.UtcNow);
            run.Output.Should().Contain($"/p2p/{reserved.Groups["relay"].Value}", "the voucher is signed by the relay that granted it");
        }
        finally
        {
            PackedPackages.TryDelete(scratch);
        }
    }

    /// <summary>
    /// The scratch project: empty Directory.Build.* and Directory.Packages.props (nothing from above applies), a
    /// nuget.config that restores into a package folder of its own (a cached 0.1.0 from an earlier run can never stand in
    /// for the fresh one) from the packed folder, for CircuitRelay* only, and from the machine's package cache and its
    /// configured sources for the dependencies.
    /// </summary>
    private async Task WriteConsumerAsync(string scratch)
    {
        IReadOnlyList<string> machineSources = await ListEnabledSourcesAsync(scratch);
        var sources = new List<(string Key, string Value)> { ("circuitrelay-packed", _packed.Feed) };
        string cache = Environment.GetEnvironmentVariable("NUGET_PACKAGES") is { Length: > 0 } configured
            ? configured
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
        if (Directory.Exists(cache))
        {
            sources.Add(("machine-package-cache", cache));
        }

        var config = new XElement("configuration",
            new XElement("config", new XElement("add", new XAttribute("key", "globalPackagesFolder"), new XAttribute("value", Path.Combine(scratch, "packages")))),
            new XElement("packageSources", sources.Select(s => new XElement("add", new XAttribute("key", s.Key), new XAttribute("value", s.Value)))),
            new XElement("packageSourceMapping",
                new XElement("packageSource", new XAttribute("key", "circuitrelay-packed"),
                    new XElement("package", new XAttribute("pattern", "CircuitRelay")),
                    new XElement("package", new XAttribute("pattern", "CircuitRelay.*"))),
                sources.Skip(1).Select(s => s.Key).Concat(machineSources).Select(key =>
                    new XElement("packageSource", new XAttribute("key", key), new XElement("package", new XAttribute("pattern", "*"))))));
        await File.WriteAllTextAsync(Path.Combine(scratch, "nuget.config"), config.ToString());

        var project = new XElement("Project", new XAttribute("Sdk", "Microsoft.NET.Sdk"),
            new XElement("PropertyGroup",
                new XElement("OutputType", "Exe"),
                new XElement("TargetFramework", "net10.0"),
                new XElement("Nullable", "enable"),
                new XElement("ImplicitUsings", "enable"),
                new XElement("TreatWarningsAsErrors", "true")),
            new XElement("ItemGroup", _packed.Packages.Select(p =>
                new XElement("PackageReference", new XAttribute("Include", p.Id), new XAttribute("Version", p.Version)))));
        await File.WriteAllTextAsync(Path.Combine(scratch, "Consumer.csproj"), project.ToString());

        foreach (string name in new[] { "Directory.Build.props", "Directory.Build.targets", "Directory.Packages.props" })
        {
            await File.WriteAllTextAsync(Path.Combine(scratch, name), "<Project />\n");
        }

        File.Copy(Path.Combine(AppContext.BaseDirectory, "Consumer", "Program.cs"), Path.Combine(scratch, "Program.cs"));
        _output.WriteLine($"consumer in {scratch}:{Environment.NewLine}{config}{Environment.NewLine}{project}");
    }

    /// <summary>The names of the package sources that apply in <paramref name="directory"/> (before its nuget.config exists).</summary>
    private static async Task<IReadOnlyList<string>> ListEnabledSourcesAsync(string directory)
    {
        DotnetResult list = await DotnetCli.RunAsync(directory, TimeSpan.FromMinutes(1), "nuget", "list", "source", "--format", "detailed");
        list.ExitCode.Should().Be(0, list.Describe());
        return [.. SourceLine().Matches(list.Output).Where(m => m.Groups["state"].Value == "Enabled").Select(m => m.Groups["name"].Value)];
    }

    private static string ReadEntry(ZipArchive zip, string name) => Encoding.UTF8.GetString(ReadBytes(zip, name));

    private static byte[] ReadBytes(ZipArchive zip, string name)
    {
        ZipArchiveEntry entry = zip.GetEntry(name) ?? throw new InvalidOperationException($"No {name} in the package.");
        using Stream stream = entry.Open();
        using var buffer = new MemoryStream();
        stream.CopyTo(buffer);
        return buffer.ToArray();
    }

    [GeneratedRegex(@"^\s*\d+\.\s+(?<name>\S.*?)\s+\[(?<state>Enabled|Disabled)\]\s*$", RegexOptions.Multiline | RegexOptions.CultureInvariant)]
    private static partial Regex SourceLine();

    [GeneratedRegex(@"^reserved (?<expiry>\S+) (?<relay>\S+)\s*$", RegexOptions.Multiline | RegexOptions.CultureInvariant)]
    private static partial Regex ReservedLine();
}
