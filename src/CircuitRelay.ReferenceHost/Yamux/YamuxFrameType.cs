namespace CircuitRelay.ReferenceHost.Yamux;

/// <summary>The Yamux frame types (digest 6.1).</summary>
internal enum YamuxFrameType : byte
{
    /// <summary>Stream payload; <c>Length</c> bytes follow the header.</summary>
    Data = 0,

    /// <summary>Stream window increase; <c>Length</c> is the delta (or, with RST, an error code).</summary>
    WindowUpdate = 1,

    /// <summary>Session ping; <c>Length</c> is an opaque value echoed back.</summary>
    Ping = 2,

    /// <summary>Session termination; <c>Length</c> is a <see cref="YamuxGoAwayCode"/>.</summary>
    GoAway = 3,
}
