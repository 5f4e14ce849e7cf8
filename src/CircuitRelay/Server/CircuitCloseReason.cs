namespace CircuitRelay.Server;

/// <summary>Why a relayed circuit ended.</summary>
public enum CircuitCloseReason
{
    /// <summary>Both endpoints closed their write sides; everything sent was delivered.</summary>
    Closed,

    /// <summary>An endpoint sent more than the data limit in one direction; both streams were reset.</summary>
    DataLimitExceeded,

    /// <summary>The circuit outlived the duration limit; both streams were reset.</summary>
    DurationLimitExceeded,

    /// <summary>An endpoint reset its stream or its connection went away; the other stream was reset.</summary>
    Reset,

    /// <summary>The relay service was stopped.</summary>
    RelayShutdown,
}
