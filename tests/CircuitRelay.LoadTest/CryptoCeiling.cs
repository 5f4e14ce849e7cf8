using System.Diagnostics;
using System.Security.Cryptography;

namespace CircuitRelay.LoadTest;

/// <summary>
/// The fastest an echo over Noise can possibly go on this machine when the cipher were the only cost: measured
/// ChaCha20-Poly1305 speed on one core, times the cores, divided by how often each echoed byte is encrypted and
/// decrypted. A direct echo seals and opens each byte once per direction (4 operations per byte echoed); a relayed
/// echo does so on both relay legs and in the end-to-end session (12).
/// </summary>
/// <param name="MibPerSecondPerCore">One core's ChaCha20-Poly1305 speed, the mean of sealing and opening.</param>
/// <param name="Cores">Logical CPUs.</param>
internal sealed record CryptoCeiling(double MibPerSecondPerCore, int Cores)
{
    private const int MessageSize = 65519; // the largest Noise transport plaintext

    /// <summary>MiB/s each way a direct echo could reach.</summary>
    public double DirectMibPerSecond => Cores * MibPerSecondPerCore / 4;

    /// <summary>MiB/s each way a relayed echo could reach.</summary>
    public double RelayedMibPerSecond => Cores * MibPerSecondPerCore / 12;

    /// <summary>Seals and opens 64 KiB messages for about <paramref name="duration"/> each, on this thread.</summary>
    public static CryptoCeiling Measure(TimeSpan duration)
    {
        byte[] key = RandomNumberGenerator.GetBytes(32);
        byte[] nonce = new byte[12];
        byte[] plaintext = RandomNumberGenerator.GetBytes(MessageSize);
        byte[] ciphertext = new byte[MessageSize];
        byte[] tag = new byte[16];
        using var aead = new ChaCha20Poly1305(key);

        double seal = Rate(() => aead.Encrypt(nonce, plaintext, ciphertext, tag));
        double open = Rate(() => aead.Decrypt(nonce, ciphertext, tag, plaintext));

        // Equal amounts of both: the time per byte is the mean of the two.
        return new CryptoCeiling(2 / ((1 / seal) + (1 / open)), Environment.ProcessorCount);

        double Rate(Action operation)
        {
            for (int i = 0; i < 200; i++)
            {
                operation();
            }

            long count = 0;
            var stopwatch = Stopwatch.StartNew();
            while (stopwatch.Elapsed < duration)
            {
                operation();
                count++;
            }

            return count * (double)MessageSize / (1024 * 1024) / stopwatch.Elapsed.TotalSeconds;
        }
    }
}
