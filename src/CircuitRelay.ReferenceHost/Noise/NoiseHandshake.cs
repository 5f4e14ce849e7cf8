using System.IO.Pipelines;
using CircuitRelay.Crypto;
using CircuitRelay.Abstractions;

namespace CircuitRelay.ReferenceHost.Noise;

/// <summary>
/// Runs the libp2p Noise XX handshake (digest 5) over a raw connection and returns the secure channel.
/// </summary>
/// <remarks>
/// <para>
/// Flow (framed with a 2-byte big-endian length each):
/// <code>
/// initiator                                   responder
///   -> e                         (32 bytes)
///   &lt;- e, ee, s, es, payload      (32 + 48 + payload + 16)
///   -> s, se, payload            (48 + payload + 16)
/// </code>
/// Message 1 carries no payload. Each payload is a <c>NoiseHandshakePayload</c> with the identity key,
/// its signature over <c>"noise-libp2p-static-key:" ‖ static key</c> and the <c>stream_muxers</c>
/// extension. A fresh static X25519 key is generated for every handshake and the prologue is empty.
/// </para>
/// <para>
/// Ownership of <c>raw</c>: on success the returned <see cref="NoiseSession"/> owns it. On any failure,
/// cancellation included, the handshake completes both sides of <c>raw</c> (the peer sees the connection
/// close) and throws. Nothing past the last handshake message is read from <c>raw</c>.
/// </para>
/// <para>
/// Failures: <see cref="InvalidDataException"/> for a peer that breaks the protocol (a message too short,
/// failing to decrypt, a bad payload or signature); <see cref="NoisePeerMismatchException"/> (an
/// <see cref="IOException"/>) when the initiator reaches another peer than the one it dialed;
/// <see cref="EndOfStreamException"/> when the connection closes mid-handshake;
/// <see cref="OperationCanceledException"/> when the caller's token fires.
/// </para>
/// </remarks>
internal static class NoiseHandshake
{
    /// <summary>The multistream-select protocol id of libp2p Noise.</summary>
    public const string ProtocolId = "/noise";

    /// <summary>The most muxer names one side announces.</summary>
    public const int MaxMuxers = NoisePayload.MaxMuxers;

    /// <summary>The most UTF-8 bytes of muxer names one side announces (keeps the payload far below a frame).</summary>
    public const int MaxMuxerBytes = 4096;

    /// <summary>Runs the handshake as the initiator (the dialer).</summary>
    /// <param name="raw">The raw connection, positioned where the Noise handshake starts.</param>
    /// <param name="identity">The local identity, which signs the static key.</param>
    /// <param name="verifier">Verifies the remote's signature.</param>
    /// <param name="expectedRemote">The peer that was dialed, or <see langword="null"/> to accept any.</param>
    /// <param name="muxers">The muxers to announce in message 3, in preference order; may be empty.</param>
    /// <param name="curve">The X25519 provider.</param>
    /// <param name="cancellationToken">Bounds the whole handshake.</param>
    /// <returns>The secure session.</returns>
    public static Task<NoiseSession> InitiateAsync(
        IDuplexPipe raw,
        ILocalIdentity identity,
        ISignatureVerifier verifier,
        PeerId? expectedRemote,
        IReadOnlyList<string> muxers,
        ICurve25519 curve,
        CancellationToken cancellationToken = default)
    {
        Validate(raw, identity, verifier, muxers, curve);
        return RunAsync(initiator: true, raw, identity, verifier, expectedRemote, muxers, curve, cancellationToken);
    }

    /// <summary>Runs the handshake as the responder (the listener).</summary>
    /// <param name="raw">The raw connection, positioned where the Noise handshake starts.</param>
    /// <param name="identity">The local identity, which signs the static key.</param>
    /// <param name="verifier">Verifies the remote's signature.</param>
    /// <param name="muxers">The muxers to announce in message 2, in preference order; may be empty.</param>
    /// <param name="curve">The X25519 provider.</param>
    /// <param name="cancellationToken">Bounds the whole handshake.</param>
    /// <returns>The secure session.</returns>
    public static Task<NoiseSession> RespondAsync(
        IDuplexPipe raw,
        ILocalIdentity identity,
        ISignatureVerifier verifier,
        IReadOnlyList<string> muxers,
        ICurve25519 curve,
        CancellationToken cancellationToken = default)
    {
        Validate(raw, identity, verifier, muxers, curve);
        return RunAsync(initiator: false, raw, identity, verifier, expectedRemote: null, muxers, curve, cancellationToken);
    }

    private static void Validate(IDuplexPipe raw, ILocalIdentity identity, ISignatureVerifier verifier, IReadOnlyList<string> muxers, ICurve25519 curve)
    {
        ArgumentNullException.ThrowIfNull(raw);
        ArgumentNullException.ThrowIfNull(identity);
        ArgumentNullException.ThrowIfNull(verifier);
        ArgumentNullException.ThrowIfNull(muxers);
        ArgumentNullException.ThrowIfNull(curve);
        if (muxers.Count > MaxMuxers)
        {
            throw new ArgumentException($"At most {MaxMuxers} muxers can be announced.", nameof(muxers));
        }

        int bytes = 0;
        foreach (string? muxer in muxers)
        {
            if (string.IsNullOrEmpty(muxer))
            {
                throw new ArgumentException("Muxer protocol ids must be non-empty strings.", nameof(muxers));
            }

            bytes += System.Text.Encoding.UTF8.GetByteCount(muxer);
        }

        if (bytes > MaxMuxerBytes)
        {
            throw new ArgumentException($"The muxer protocol ids take {bytes} bytes; at most {MaxMuxerBytes} are allowed.", nameof(muxers));
        }
    }

    private static async Task<NoiseSession> RunAsync(
        bool initiator,
        IDuplexPipe raw,
        ILocalIdentity identity,
        ISignatureVerifier verifier,
        PeerId? expectedRemote,
        IReadOnlyList<string> muxers,
        ICurve25519 curve,
        CancellationToken cancellationToken)
    {
        NoiseCipherState? send = null;
        NoiseCipherState? receive = null;
        try
        {
            NoiseRemoteIdentity remote;
            using (var state = new NoiseHandshakeState(initiator, [], curve))
            {
                byte[] payload = NoisePayload.Create(identity, state.LocalStaticPublicKey, muxers);
                if (initiator)
                {
                    // -> e (the initiator must not send extensions in message 1: empty payload).
                    await NoiseFraming.WriteFrameAsync(raw.Output, state.WriteMessage([]), cancellationToken).ConfigureAwait(false);

                    // <- e, ee, s, es + the responder's payload.
                    byte[] message2 = await NoiseFraming.ReadFrameAsync(raw.Input, "Noise handshake message 2", cancellationToken).ConfigureAwait(false);
                    remote = Authenticate(state, state.ReadMessage(message2), verifier);
                    if (expectedRemote is not null && remote.PeerId != expectedRemote)
                    {
                        throw new NoisePeerMismatchException(expectedRemote, remote.PeerId);
                    }

                    // -> s, se + our payload.
                    await NoiseFraming.WriteFrameAsync(raw.Output, state.WriteMessage(payload), cancellationToken).ConfigureAwait(false);
                }
                else
                {
                    // -> e. Any payload a peer put there anyway is hashed and ignored.
                    byte[] message1 = await NoiseFraming.ReadFrameAsync(raw.Input, "Noise handshake message 1", cancellationToken).ConfigureAwait(false);
                    _ = state.ReadMessage(message1);

                    // <- e, ee, s, es + our payload.
                    await NoiseFraming.WriteFrameAsync(raw.Output, state.WriteMessage(payload), cancellationToken).ConfigureAwait(false);

                    // -> s, se + the initiator's payload.
                    byte[] message3 = await NoiseFraming.ReadFrameAsync(raw.Input, "Noise handshake message 3", cancellationToken).ConfigureAwait(false);
                    remote = Authenticate(state, state.ReadMessage(message3), verifier);
                }

                (send, receive) = state.Split();
            }

            return NoiseSession.Start(raw, send, receive, remote, initiator);
        }
        catch
        {
            send?.Dispose();
            receive?.Dispose();
            await raw.Input.CompleteAsync().ConfigureAwait(false);
            await raw.Output.CompleteAsync().ConfigureAwait(false);
            throw;
        }
    }

    private static NoiseRemoteIdentity Authenticate(NoiseHandshakeState state, byte[] payload, ISignatureVerifier verifier) =>
        NoisePayload.Verify(payload, state.RemoteStaticPublicKey, verifier);
}
