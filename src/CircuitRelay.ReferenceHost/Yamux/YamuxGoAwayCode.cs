namespace CircuitRelay.ReferenceHost.Yamux;

/// <summary>The error codes a Go Away frame carries (digest 6.1).</summary>
internal enum YamuxGoAwayCode : uint
{
    /// <summary>Normal termination.</summary>
    Normal = 0,

    /// <summary>The peer broke the protocol.</summary>
    ProtocolError = 1,

    /// <summary>The sender failed internally.</summary>
    InternalError = 2,
}
