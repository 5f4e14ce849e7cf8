namespace CircuitRelay.Interop.Tests;

/// <summary>Payload sizes and fixed identities the scenarios use.</summary>
internal static class Sizes
{
    public const int OneKiB = 1024;

    public const int OneMiB = 1024 * 1024;

    public const int TwoMiB = 2 * OneMiB;

    /// <summary>A valid Ed25519 peer ID that no process in these tests ever uses, so no relay holds a reservation for it.</summary>
    public const string UnreservedPeerId = "12D3KooWFkMCYuLS2XNej8MQiDc5riYs6WatKj74cqBuSmwDvqEK";
}
