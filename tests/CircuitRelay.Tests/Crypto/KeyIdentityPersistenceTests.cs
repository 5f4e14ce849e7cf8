using CircuitRelay.Crypto;

namespace CircuitRelay.Tests.Crypto;

public sealed class KeyIdentityPersistenceTests : IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), $"circuitrelay-key-{Guid.NewGuid():N}");

    [Fact]
    public void LoadOrCreate_TwiceOnOnePath_CreatesTheKeyOnceAndKeepsThePeerId()
    {
        string path = Path.Combine(_directory, "nested", "identity.key");

        using KeyIdentity first = KeyIdentity.LoadOrCreate(path);
        using KeyIdentity second = KeyIdentity.LoadOrCreate(path);

        second.PeerId.Should().Be(first.PeerId);
        if (!OperatingSystem.IsWindows())
        {
            File.GetUnixFileMode(path).Should().Be(UnixFileMode.UserRead | UnixFileMode.UserWrite, "the key is readable by its owner only");
        }
    }

    [Fact]
    public void LoadOrCreate_FileWithoutAKey_ThrowsFormatException()
    {
        Directory.CreateDirectory(_directory);
        string path = Path.Combine(_directory, "garbage.key");
        File.WriteAllBytes(path, [1, 2, 3]);

        Action load = () => KeyIdentity.LoadOrCreate(path);

        load.Should().Throw<FormatException>();
    }

    public void Dispose()
    {
        if (Directory.Exists(_directory))
        {
            Directory.Delete(_directory, recursive: true);
        }
    }
}
