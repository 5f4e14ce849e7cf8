namespace CircuitRelay.Inbound;

/// <summary>Options of <see cref="InboundCapsGate"/>.</summary>
public sealed class InboundCapsOptions
{
    /// <summary>Relayed connections arriving through one relay at once; one more circuit is refused; 0 = no cap. Default 16.</summary>
    public int PerRelay { get; set; } = 16;

    /// <summary>Inbound direct connections while the node's role is private; one more is refused after its handshake; 0 = no cap. Default 0.</summary>
    public int WhilePrivate { get; set; }

    /// <summary>Throws <see cref="ArgumentException"/> naming the option that is invalid.</summary>
    public void Validate()
    {
        if (PerRelay < 0 || WhilePrivate < 0)
        {
            throw new ArgumentException("PerRelay and WhilePrivate must be 0 (no cap) or more.", PerRelay < 0 ? nameof(PerRelay) : nameof(WhilePrivate));
        }
    }
}
