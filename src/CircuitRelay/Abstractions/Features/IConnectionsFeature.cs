namespace CircuitRelay.Abstractions;

/// <summary>A host feature: every live connection, and closing one.</summary>
/// <remarks>Each <see cref="ConnectionInfo.Closed"/> token fires when its connection ends.</remarks>
public interface IConnectionsFeature
{
    /// <summary>All live, upgraded connections, to every peer.</summary>
    IReadOnlyList<ConnectionInfo> Connections { get; }

    /// <summary>Closes <paramref name="connection"/> (its streams are reset); does nothing when it is closed already.</summary>
    ValueTask CloseAsync(ConnectionInfo connection, CancellationToken cancellationToken = default);
}
