namespace CircuitRelay.Protocol;

/// <summary>Circuit Relay v2 protocol ids and wire constants.</summary>
public static class RelayProtocol
{
    /// <summary>The hop protocol (client to relay).</summary>
    public const string Hop = "/libp2p/circuit/relay/0.2.0/hop";

    /// <summary>The stop protocol (relay to target).</summary>
    public const string Stop = "/libp2p/circuit/relay/0.2.0/stop";

    /// <summary>The largest hop or stop message accepted (go and rust use 4096).</summary>
    public const int MaxMessageSize = 4096;
}
