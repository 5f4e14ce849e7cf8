using System.Reflection;

namespace CircuitRelay.Interop.Tests.Harness;

/// <summary>Where the two peer programs live on this machine.</summary>
internal static class InteropPaths
{
    private const string JsDirectoryKey = "InteropJsDirectory";

    /// <summary>The js peer's folder (peer.mjs, polyfill.mjs, node_modules), baked in at build time.</summary>
    public static string JsDirectory { get; } =
        typeof(InteropPaths).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
            .Single(a => a.Key == JsDirectoryKey).Value
        ?? throw new InvalidOperationException($"The test assembly has no '{JsDirectoryKey}' metadata.");

    /// <summary>The .NET sample node, copied next to the test assembly by the project reference.</summary>
    public static string NodeDll { get; } = Path.Combine(AppContext.BaseDirectory, "CircuitRelay.Node.dll");

    /// <summary>The dotnet host that runs this test process, so the node runs on the same runtime.</summary>
    public static string DotnetHost { get; } = FindDotnetHost();

    /// <summary>Throws a clear message when a prerequisite is missing, instead of a cryptic process failure.</summary>
    public static void EnsureJsPeerInstalled()
    {
        if (!File.Exists(Path.Combine(JsDirectory, "peer.mjs")))
        {
            throw new InvalidOperationException($"peer.mjs not found in {JsDirectory}.");
        }

        if (!Directory.Exists(Path.Combine(JsDirectory, "node_modules")))
        {
            throw new InvalidOperationException(
                $"{JsDirectory}/node_modules is missing: the build runs `npm ci` there; run it by hand if the build could not.");
        }
    }

    /// <summary>Throws a clear message when the .NET node was not built next to the tests.</summary>
    public static void EnsureNodeBuilt()
    {
        if (!File.Exists(NodeDll))
        {
            throw new InvalidOperationException(
                $"{NodeDll} not found: build tests/CircuitRelay.Interop.Tests, which references samples/CircuitRelay.Node.");
        }
    }

    private static string FindDotnetHost()
    {
        var fromSdk = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH");
        if (!string.IsNullOrEmpty(fromSdk) && File.Exists(fromSdk))
        {
            return fromSdk;
        }

        var self = Environment.ProcessPath;
        if (self is not null && Path.GetFileNameWithoutExtension(self).Equals("dotnet", StringComparison.OrdinalIgnoreCase))
        {
            return self;
        }

        return "dotnet";
    }
}
