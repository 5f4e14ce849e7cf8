namespace CircuitRelay.Abstractions;

/// <summary>
/// A host feature: the node's own addresses. Listen addresses come from the transports, observed addresses from
/// what peers report (Identify's <c>observedAddr</c>), external addresses from whoever confirmed them (AutoNAT,
/// AutoRelay's circuit addresses, the operator).
/// </summary>
public interface IAddressesFeature
{
    /// <summary>The resolved addresses the host listens on, without <c>/p2p/&lt;own id&gt;</c>.</summary>
    IReadOnlyList<Multiaddr> ListenAddresses { get; }

    /// <summary>Addresses peers saw us at over direct connections, with how many distinct peers reported each, most reported first.</summary>
    IReadOnlyList<ObservedAddress> ObservedAddresses { get; }

    /// <summary>Addresses confirmed reachable by others (added with <see cref="AddExternalAddress"/>).</summary>
    IReadOnlyList<Multiaddr> ExternalAddresses { get; }

    /// <summary>Adds an address others can reach us at; returns <see langword="false"/> when it was there already.</summary>
    bool AddExternalAddress(Multiaddr address);

    /// <summary>Removes an address added with <see cref="AddExternalAddress"/>; returns whether it was there.</summary>
    bool RemoveExternalAddress(Multiaddr address);

    /// <summary>
    /// Records that <paramref name="reporter"/> saw us at <paramref name="observed"/> over a direct connection
    /// (Identify calls this). One report per reporter counts; a later report from the same reporter replaces its earlier one.
    /// </summary>
    void ReportObservedAddress(PeerId reporter, Multiaddr observed);

    /// <summary>Raised after the listen, observed or external addresses changed.</summary>
    event EventHandler? AddressesChanged;
}

/// <summary>An address of ours as peers observed it.</summary>
/// <param name="Address">The observed address, without <c>/p2p/&lt;id&gt;</c>.</param>
/// <param name="ReporterCount">How many distinct peers reported it.</param>
public sealed record ObservedAddress(Multiaddr Address, int ReporterCount);
