namespace CircuitRelay.ReferenceHost.Transports.Memory;

/// <summary>How a <see cref="MemoryNat"/> maps outbound connections and filters inbound ones (RFC 4787 terms).</summary>
public enum NatMapping
{
    /// <summary>
    /// One mapping (one public port) per private source <c>ip:port</c>, whatever the destination (endpoint-independent
    /// mapping), with address-restricted filtering: a dial to the mapping's public <c>ip:port</c> is let in only from
    /// an IP address the mapping has already sent to. A typical home router; hole punching works through it.
    /// </summary>
    EndpointIndependent,

    /// <summary>
    /// A new mapping (a new public port) per private source <c>ip:port</c> and destination <c>ip:port</c>, each let
    /// in only from the exact destination <c>ip:port</c> it was made for. An observed address says nothing about the
    /// next destination's mapping, so hole punching fails through it.
    /// </summary>
    Symmetric,
}
