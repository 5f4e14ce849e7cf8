// Every interop test starts several processes; on a 2-core machine they must not run alongside each other.
[assembly: CollectionBehavior(DisableTestParallelization = true)]

namespace CircuitRelay.Interop.Tests.Harness;

/// <summary>The one collection every interop test class belongs to: run sequentially, one set of shared relays.</summary>
[CollectionDefinition(Name)]
public sealed class InteropCollection : ICollectionFixture<SharedRelays>
{
    /// <summary>The collection's name, for <c>[Collection(InteropCollection.Name)]</c>.</summary>
    public const string Name = "Interop";
}
