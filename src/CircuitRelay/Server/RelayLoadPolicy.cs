namespace CircuitRelay.Server;

/// <summary>How a relay under load treats new requests (existing circuits always keep the limits they were granted).</summary>
public enum RelayLoadLevel
{
    /// <summary>The configured limits and TTL.</summary>
    Normal,

    /// <summary>New circuits get tighter limits and new reservations a shorter TTL (<see cref="RelayServerOptions.LoadTightFactor"/>).</summary>
    Tight,

    /// <summary>New reservations and circuits are refused with <c>RESOURCE_LIMIT_EXCEEDED</c>; renewals of held reservations still pass.</summary>
    Refusing,
}

/// <summary>The relay's load when a request arrives.</summary>
/// <param name="ActiveCircuits">Circuits relayed now.</param>
/// <param name="MaxCircuits">The configured cap on circuits.</param>
/// <param name="BytesPerSecond">Bytes relayed per second (both directions), over the last second or more.</param>
/// <param name="MemoryBytes">The process's managed heap in bytes (0 when no memory watermark is set, so it is not measured).</param>
public readonly record struct RelayLoad(int ActiveCircuits, int MaxCircuits, double BytesPerSecond, long MemoryBytes);

/// <summary>Decides the <see cref="RelayLoadLevel"/> for a <see cref="RelayLoad"/>; replaceable through <see cref="RelayServerOptions.LoadPolicy"/>.</summary>
/// <remarks>Called for each new reservation and circuit request, from several threads; an implementation may keep state (hysteresis).</remarks>
public interface IRelayLoadPolicy
{
    /// <summary>The level for the request arriving now.</summary>
    RelayLoadLevel Evaluate(RelayLoad load);
}

/// <summary>
/// The default <see cref="IRelayLoadPolicy"/>: two watermarks per measure. A measure at or above its tight watermark
/// makes the level <see cref="RelayLoadLevel.Tight"/>, at or above its refuse watermark
/// <see cref="RelayLoadLevel.Refusing"/> (the highest over all measures wins). To come down a level every measure must
/// fall below that level's watermark by <see cref="Hysteresis"/> (a fraction of it), so a load hovering at a
/// watermark does not flip the level on every request.
/// </summary>
/// <remarks>
/// Defaults: circuits tight at 75 % and refusing at 95 % of <see cref="RelayServerOptions.MaxCircuits"/>; bandwidth and
/// memory watermarks off (0) until set; hysteresis 10 %.
/// </remarks>
public sealed class WatermarkLoadPolicy : IRelayLoadPolicy
{
    private readonly Lock _lock = new();
    private RelayLoadLevel _level;

    /// <summary>Circuits, as a fraction of <see cref="RelayLoad.MaxCircuits"/>, from which limits tighten. Default 0.75.</summary>
    public double CircuitsTight { get; init; } = 0.75;

    /// <summary>Circuits, as a fraction of <see cref="RelayLoad.MaxCircuits"/>, from which new requests are refused. Default 0.95.</summary>
    public double CircuitsRefuse { get; init; } = 0.95;

    /// <summary>Bytes relayed per second from which limits tighten; 0 = not watched. Default 0.</summary>
    public double BytesPerSecondTight { get; init; }

    /// <summary>Bytes relayed per second from which new requests are refused; 0 = not watched. Default 0.</summary>
    public double BytesPerSecondRefuse { get; init; }

    /// <summary>Managed heap bytes from which limits tighten; 0 = not watched. Default 0.</summary>
    public long MemoryTight { get; init; }

    /// <summary>Managed heap bytes from which new requests are refused; 0 = not watched. Default 0.</summary>
    public long MemoryRefuse { get; init; }

    /// <summary>How far below a watermark (a fraction of it) every measure must fall before the level comes down. Default 0.1.</summary>
    public double Hysteresis { get; init; } = 0.1;

    /// <summary>Whether memory is watched (so the relay measures it).</summary>
    public bool WatchesMemory => MemoryTight > 0 || MemoryRefuse > 0;

    /// <summary>The level last decided.</summary>
    public RelayLoadLevel Level
    {
        get
        {
            lock (_lock)
            {
                return _level;
            }
        }
    }

    /// <inheritdoc />
    public RelayLoadLevel Evaluate(RelayLoad load)
    {
        double circuits = load.MaxCircuits > 0 ? load.ActiveCircuits / (double)load.MaxCircuits : 0;
        RelayLoadLevel raw = Max(
            LevelOf(circuits, CircuitsTight, CircuitsRefuse, 1),
            LevelOf(load.BytesPerSecond, BytesPerSecondTight, BytesPerSecondRefuse, 1),
            LevelOf(load.MemoryBytes, MemoryTight, MemoryRefuse, 1));
        lock (_lock)
        {
            if (raw >= _level)
            {
                _level = raw;
                return _level;
            }

            // Coming down: only as far as every measure is below the watermark by the hysteresis margin.
            double keep = 1 - Hysteresis;
            RelayLoadLevel relaxed = Max(
                LevelOf(circuits, CircuitsTight, CircuitsRefuse, keep),
                LevelOf(load.BytesPerSecond, BytesPerSecondTight, BytesPerSecondRefuse, keep),
                LevelOf(load.MemoryBytes, MemoryTight, MemoryRefuse, keep));
            _level = relaxed < _level ? relaxed : _level;
            return _level;
        }
    }

    private static RelayLoadLevel LevelOf(double value, double tight, double refuse, double scale)
        => refuse > 0 && value >= refuse * scale ? RelayLoadLevel.Refusing
            : tight > 0 && value >= tight * scale ? RelayLoadLevel.Tight
            : RelayLoadLevel.Normal;

    private static RelayLoadLevel Max(RelayLoadLevel a, RelayLoadLevel b, RelayLoadLevel c)
        => (RelayLoadLevel)Math.Max((int)a, Math.Max((int)b, (int)c));
}
