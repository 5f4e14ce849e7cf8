namespace CircuitRelay.ReferenceHost.Yamux;

/// <summary>The Yamux header flags (digest 6.1).</summary>
[Flags]
internal enum YamuxFlags : ushort
{
    /// <summary>No flag.</summary>
    None = 0,

    /// <summary>Opens a stream; on a ping, marks the request.</summary>
    Syn = 0x1,

    /// <summary>Acknowledges a stream; on a ping, marks the response.</summary>
    Ack = 0x2,

    /// <summary>Half-closes the stream: the sender sends no more data.</summary>
    Fin = 0x4,

    /// <summary>Resets the stream at once.</summary>
    Rst = 0x8,
}
