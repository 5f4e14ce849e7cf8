using CircuitRelay.Server;
using Microsoft.Extensions.Logging;

namespace CircuitRelay.Diagnostics;

/// <summary>
/// Log messages of the library. Event ids and method names are part of the contract: never renumber or rename.
/// </summary>
internal static partial class RelayLog
{
    // Server: 1xx
    [LoggerMessage(100, LogLevel.Information, "Relay service started for {LocalPeer}")]
    public static partial void ServerStarted(ILogger logger, PeerId localPeer);

    [LoggerMessage(101, LogLevel.Debug, "Reservation {Outcome} for {Peer} until {Expiry:O}")]
    public static partial void ReservationAccepted(ILogger logger, PeerId peer, string outcome, DateTimeOffset expiry);

    [LoggerMessage(102, LogLevel.Debug, "Reservation refused for {Peer}: {Status} ({Reason})")]
    public static partial void ReservationRefused(ILogger logger, PeerId peer, RelayStatus status, string reason);

    [LoggerMessage(103, LogLevel.Debug, "Reservation of {Peer} ended: {Reason}")]
    public static partial void ReservationEnded(ILogger logger, PeerId peer, string reason);

    [LoggerMessage(104, LogLevel.Debug, "Connect from {Source} to {Target} refused: {Status} ({Reason})")]
    public static partial void ConnectRefused(ILogger logger, PeerId source, PeerId? target, RelayStatus status, string reason);

    [LoggerMessage(105, LogLevel.Debug, "Circuit {Source} -> {Target} opened")]
    public static partial void CircuitOpened(ILogger logger, PeerId source, PeerId target);

    [LoggerMessage(106, LogLevel.Debug, "Circuit {Source} -> {Target} closed: {Reason}, {BytesToTarget} B to target, {BytesToSource} B to source")]
    public static partial void CircuitClosed(ILogger logger, PeerId source, PeerId target, CircuitCloseReason reason, long bytesToTarget, long bytesToSource);

    [LoggerMessage(107, LogLevel.Debug, "Hop stream from {Peer} rejected: {Status} ({Reason})")]
    public static partial void HopRejected(ILogger logger, PeerId peer, RelayStatus status, string reason);

    [LoggerMessage(108, LogLevel.Warning, "Hop stream from {Peer} failed")]
    public static partial void HopFailed(ILogger logger, PeerId peer, Exception exception);

    [LoggerMessage(109, LogLevel.Error, "New relay options were ignored because they are invalid: {Reason}")]
    public static partial void InvalidOptionsIgnored(ILogger logger, string reason);

    [LoggerMessage(110, LogLevel.Warning, "Relay load level {Previous} -> {Level}: {Circuits} of {MaxCircuits} circuits, {BytesPerSecond} B/s, {MemoryBytes} B heap")]
    public static partial void LoadLevelChanged(ILogger logger, Server.RelayLoadLevel previous, Server.RelayLoadLevel level, int circuits, int maxCircuits, long bytesPerSecond, long memoryBytes);

    // Client: 2xx
    [LoggerMessage(200, LogLevel.Information, "Reserved a slot on relay {Relay} until {Expiry:O}")]
    public static partial void Reserved(ILogger logger, PeerId relay, DateTimeOffset expiry);

    // The reason, not the exception: a refused or lost renewal is an expected event, and its stack says nothing.
    [LoggerMessage(201, LogLevel.Warning, "Renewing the reservation on relay {Relay} failed: {Reason}")]
    public static partial void RenewalFailed(ILogger logger, PeerId relay, string reason);

    [LoggerMessage(202, LogLevel.Information, "Reservation on relay {Relay} expired")]
    public static partial void ReservationExpired(ILogger logger, PeerId relay);

    [LoggerMessage(203, LogLevel.Debug, "Incoming circuit from {Source} via {Relay} refused: {Status} ({Reason})")]
    public static partial void StopRefused(ILogger logger, PeerId relay, PeerId? source, RelayStatus status, string reason);

    [LoggerMessage(204, LogLevel.Debug, "Incoming circuit from {Source} via {Relay} accepted")]
    public static partial void StopAccepted(ILogger logger, PeerId relay, PeerId source);

    [LoggerMessage(205, LogLevel.Warning, "Stop stream from {Relay} failed")]
    public static partial void StopFailed(ILogger logger, PeerId relay, Exception exception);

    [LoggerMessage(206, LogLevel.Debug, "Connected to {Target} through relay {Relay}")]
    public static partial void Connected(ILogger logger, PeerId relay, PeerId target);
}
