namespace CircuitRelay.Adverts;

/// <summary>The services bitfield of a relay advert and of the compact capability metadata.</summary>
[Flags]
public enum RelayServices
{
    /// <summary>No service.</summary>
    None = 0,

    /// <summary>Circuit Relay v2 hop service: the node accepts reservations and relays circuits.</summary>
    Relay = 1,
}
