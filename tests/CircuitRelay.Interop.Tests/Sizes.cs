namespace CircuitRelay.Interop.Tests;

/// <summary>Payload sizes and fixed identities the scenarios use.</summary>
internal static class Sizes
{
    public const int OneKiB = 1024;

    public const int OneMiB = 1024 * 1024;

    public const int TwoMiB = 2 * OneMiB;

    /// <summary>
    /// Past every Yamux stream window on both sides (js 256 KiB, .NET 4 MiB to start, growing up to 16 MiB), so an
    /// echo of this size needs window updates in both directions from both implementations.
    /// </summary>
    public const int SixteenMiB = 16 * OneMiB;

    /// <summary>A valid Ed25519 peer ID that no process in these tests ever uses, so no relay holds a reservation for it.</summary>
    public const string UnreservedPeerId = "12D3KooWFkMCYuLS2XNej8MQiDc5riYs6WatKj74cqBuSmwDvqEK";
}
