namespace CircuitRelay.ReferenceHost;

/// <summary>
/// The reference host's log messages, one partial file per area with its own event id range
/// (Yamux 100-199). Method names ship as event names: do not rename them.
/// </summary>
internal static partial class Log
{
}
