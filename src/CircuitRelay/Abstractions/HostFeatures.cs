namespace CircuitRelay.Abstractions;

/// <summary>Finds the feature interfaces (<c>IDialFeature</c>, <c>IAddressesFeature</c>, …) a host provides.</summary>
public static class HostFeatures
{
    /// <summary>
    /// Returns the host's <typeparamref name="TFeature"/>, or throws a clear message naming who needs it. Protocols
    /// call this in their constructor, so a host that lacks a feature fails at construction, not at the first use.
    /// </summary>
    /// <param name="host">The host.</param>
    /// <param name="requiredBy">Who asks (e.g. <c>"AutoNAT"</c>), for the message.</param>
    /// <exception cref="NotSupportedException">The host does not provide the feature.</exception>
    public static TFeature GetRequiredFeature<TFeature>(this ILibp2pHost host, string requiredBy)
        where TFeature : class
    {
        ArgumentNullException.ThrowIfNull(host);
        return host.GetFeature<TFeature>()
            ?? throw new NotSupportedException($"{requiredBy} needs a host that provides {typeof(TFeature).Name}; {host.GetType().Name} does not.");
    }
}
