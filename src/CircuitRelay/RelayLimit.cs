namespace CircuitRelay;

/// <summary>
/// The limit a relay applies to one relayed connection: a maximum duration and a maximum number of
/// bytes <em>per direction</em>. A zero component means "no limit" for that component; a connection
/// without any limit is represented by a <see langword="null"/> <see cref="RelayLimit"/>.
/// </summary>
/// <param name="Duration">Maximum lifetime, whole seconds on the wire (0 = unlimited).</param>
/// <param name="DataBytes">Maximum bytes relayed in each direction (0 = unlimited).</param>
public sealed record RelayLimit(TimeSpan Duration, ulong DataBytes)
{
    /// <summary>go-libp2p's and rust-libp2p's default: 2 minutes and 128 KiB per direction.</summary>
    public static RelayLimit Default { get; } = new(TimeSpan.FromMinutes(2), 128 * 1024);

    /// <summary>Whether the duration component limits anything.</summary>
    public bool HasDuration => Duration > TimeSpan.Zero;

    /// <summary>Whether the data component limits anything.</summary>
    public bool HasData => DataBytes > 0;
}
