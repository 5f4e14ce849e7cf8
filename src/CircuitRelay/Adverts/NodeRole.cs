namespace CircuitRelay.Adverts;

/// <summary>What a node believes of its own reachability (AutoNAT decides it; an operator may force it).</summary>
public enum NodeRole
{
    /// <summary>Not known yet.</summary>
    Unknown = 0,

    /// <summary>Publicly reachable: serves as a relay.</summary>
    Public = 1,

    /// <summary>Behind a NAT or firewall: reserves through relays.</summary>
    Private = 2,
}
