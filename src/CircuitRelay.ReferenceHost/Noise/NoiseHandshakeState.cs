using System.Security.Cryptography;
using CircuitRelay.Crypto;

namespace CircuitRelay.ReferenceHost.Noise;

/// <summary>
/// The Noise HandshakeState (noise_spec §5.3) for <c>Noise_XX_25519_ChaChaPoly_SHA256</c>: the XX
/// message patterns, driven one whole message at a time. No I/O: <see cref="NoiseHandshake"/> frames
/// the messages.
/// </summary>
/// <remarks>
/// <code>
/// -> e
/// &lt;- e, ee, s, es
/// -> s, se
/// </code>
/// The static X25519 key pair is generated when the state is created (libp2p: a fresh static key per
/// handshake, separate from the identity key); the ephemeral key when the <c>e</c> token is written.
/// Both come from <see cref="ICurve25519.X25519GenerateKey"/>, so a test provider can make the run
/// deterministic.
/// </remarks>
internal sealed class NoiseHandshakeState : IDisposable
{
    /// <summary>The libp2p Noise protocol name (32 ASCII bytes).</summary>
    public const string ProtocolName = "Noise_XX_25519_ChaChaPoly_SHA256";

    /// <summary>Size of an X25519 key.</summary>
    public const int DhLength = 32;

    private static readonly Token[][] MessagePatterns =
    [
        [Token.E],
        [Token.E, Token.EE, Token.S, Token.ES],
        [Token.S, Token.SE],
    ];

    private readonly ICurve25519 _curve;
    private readonly NoiseSymmetricState _symmetric;
    private readonly byte[] _staticPrivate = new byte[DhLength];
    private readonly byte[] _staticPublic = new byte[DhLength];
    private readonly byte[] _ephemeralPrivate = new byte[DhLength];
    private readonly byte[] _ephemeralPublic = new byte[DhLength];
    private byte[]? _remoteEphemeral;
    private byte[]? _remoteStatic;
    private int _messageIndex;
    private bool _failed;

    /// <summary>Initializes the state: <c>InitializeSymmetric</c>, then <c>MixHash(prologue)</c>.</summary>
    /// <param name="initiator">Whether this side sends the first message.</param>
    /// <param name="prologue">The prologue; libp2p over TCP uses an empty one.</param>
    /// <param name="curve">The X25519 provider.</param>
    public NoiseHandshakeState(bool initiator, ReadOnlySpan<byte> prologue, ICurve25519 curve)
    {
        ArgumentNullException.ThrowIfNull(curve);
        IsInitiator = initiator;
        _curve = curve;
        _symmetric = new NoiseSymmetricState(ProtocolName);
        _symmetric.MixHash(prologue);
        _curve.X25519GenerateKey(_staticPrivate, _staticPublic);
    }

    private enum Token
    {
        E,
        S,
        EE,
        ES,
        SE,
    }

    /// <summary>Whether this side is the initiator.</summary>
    public bool IsInitiator { get; }

    /// <summary>The local static X25519 public key (what the identity signature covers).</summary>
    public ReadOnlySpan<byte> LocalStaticPublicKey => _staticPublic;

    /// <summary>The remote static X25519 public key, once received (after message 2 or 3).</summary>
    public ReadOnlySpan<byte> RemoteStaticPublicKey => _remoteStatic;

    /// <summary>The handshake hash <c>h</c> (final once the handshake is complete).</summary>
    public ReadOnlySpan<byte> HandshakeHash => _symmetric.HandshakeHash;

    /// <summary>Whether all three messages have been processed.</summary>
    public bool IsComplete => _messageIndex == MessagePatterns.Length;

    /// <summary>Whether the next message is ours to write.</summary>
    public bool IsMyTurn => !IsComplete && (_messageIndex % 2 == 0) == IsInitiator;

    /// <summary>Writes the next handshake message: the pattern's tokens, then <c>EncryptAndHash(payload)</c>.</summary>
    /// <param name="payload">The payload (plaintext before the first key is set).</param>
    /// <returns>The message, without the length prefix.</returns>
    /// <exception cref="InvalidOperationException">It is not this side's turn, or the state failed.</exception>
    /// <exception cref="ArgumentException">The message would exceed 65535 bytes.</exception>
    /// <exception cref="InvalidDataException">A DH result is all zeros (the peer sent a low-order point).</exception>
    public byte[] WriteMessage(ReadOnlySpan<byte> payload)
    {
        EnsureTurn(write: true);
        Token[] tokens = MessagePatterns[_messageIndex];

        int length = MessageOverhead(tokens) + payload.Length;
        if (length > NoiseFraming.MaxMessageLength)
        {
            throw new ArgumentException($"The handshake message would be {length} bytes; the maximum is {NoiseFraming.MaxMessageLength}.", nameof(payload));
        }

        var message = new byte[length];
        int offset = 0;
        _failed = true;
        foreach (Token token in tokens)
        {
            switch (token)
            {
                case Token.E:
                    _curve.X25519GenerateKey(_ephemeralPrivate, _ephemeralPublic);
                    _ephemeralPublic.CopyTo(message, offset);
                    offset += DhLength;
                    _symmetric.MixHash(_ephemeralPublic);
                    break;
                case Token.S:
                    offset += _symmetric.EncryptAndHash(_staticPublic, message.AsSpan(offset));
                    break;
                default:
                    MixDh(token);
                    break;
            }
        }

        offset += _symmetric.EncryptAndHash(payload, message.AsSpan(offset));
        if (offset != length)
        {
            throw new InvalidOperationException("Internal error: the handshake message length differs from the pattern's.");
        }

        _failed = false;
        _messageIndex++;
        return message;
    }

    /// <summary>Reads the next handshake message and returns its decrypted payload.</summary>
    /// <param name="message">The message, without the length prefix.</param>
    /// <returns>The payload.</returns>
    /// <exception cref="InvalidOperationException">It is not the peer's turn, or the state failed.</exception>
    /// <exception cref="InvalidDataException">
    /// The message is too short for its pattern, fails authentication, or carries a low-order point.
    /// The state is then unusable.
    /// </exception>
    public byte[] ReadMessage(ReadOnlySpan<byte> message)
    {
        EnsureTurn(write: false);
        Token[] tokens = MessagePatterns[_messageIndex];
        int number = _messageIndex + 1;
        _failed = true;

        int minimum = MessageOverhead(tokens);
        if (message.Length < minimum)
        {
            throw new InvalidDataException($"Noise handshake message {number} is {message.Length} bytes; its pattern needs at least {minimum}.");
        }

        ReadOnlySpan<byte> rest = message;
        foreach (Token token in tokens)
        {
            switch (token)
            {
                case Token.E:
                    _remoteEphemeral = rest[..DhLength].ToArray();
                    rest = rest[DhLength..];
                    _symmetric.MixHash(_remoteEphemeral);
                    break;
                case Token.S:
                {
                    int length = _symmetric.GetCiphertextLength(DhLength);
                    var remoteStatic = new byte[DhLength];
                    try
                    {
                        _symmetric.DecryptAndHash(rest[..length], remoteStatic);
                    }
                    catch (InvalidDataException ex)
                    {
                        throw new InvalidDataException($"Noise handshake message {number}: the peer's static key failed to decrypt (not a Noise XX peer, or the data was corrupted).", ex);
                    }

                    _remoteStatic = remoteStatic;
                    rest = rest[length..];
                    break;
                }

                default:
                    MixDh(token);
                    break;
            }
        }

        var payload = new byte[Math.Max(0, rest.Length - (_symmetric.HasKey ? NoiseCipherState.TagSize : 0))];
        try
        {
            _symmetric.DecryptAndHash(rest, payload);
        }
        catch (InvalidDataException ex)
        {
            throw new InvalidDataException($"Noise handshake message {number}: the payload failed to decrypt (not a Noise XX peer, or the data was corrupted).", ex);
        }

        _failed = false;
        _messageIndex++;
        return payload;
    }

    /// <summary>
    /// Splits the final state into this side's sending and receiving cipher states (initiator sends with
    /// k1, responder with k2).
    /// </summary>
    /// <returns>The cipher states; the caller owns them.</returns>
    /// <exception cref="InvalidOperationException">The handshake is not complete.</exception>
    public (NoiseCipherState Send, NoiseCipherState Receive) Split()
    {
        if (!IsComplete || _failed)
        {
            throw new InvalidOperationException("The Noise handshake is not complete.");
        }

        (NoiseCipherState c1, NoiseCipherState c2) = _symmetric.Split();
        return IsInitiator ? (c1, c2) : (c2, c1);
    }

    /// <summary>Wipes the private keys and the symmetric state. Idempotent.</summary>
    public void Dispose()
    {
        CryptographicOperations.ZeroMemory(_staticPrivate);
        CryptographicOperations.ZeroMemory(_ephemeralPrivate);
        _symmetric.Dispose();
    }

    /// <summary>The length of the next message without its payload: keys, their tags and the payload tag.</summary>
    private int MessageOverhead(Token[] tokens)
    {
        // Whether a key exists at each point follows from the pattern: any DH token sets one.
        bool hasKey = _symmetric.HasKey;
        int length = 0;
        foreach (Token token in tokens)
        {
            switch (token)
            {
                case Token.E:
                    length += DhLength;
                    break;
                case Token.S:
                    length += DhLength + (hasKey ? NoiseCipherState.TagSize : 0);
                    break;
                default:
                    hasKey = true;
                    break;
            }
        }

        return length + (hasKey ? NoiseCipherState.TagSize : 0);
    }

    private void EnsureTurn(bool write)
    {
        if (_failed)
        {
            throw new InvalidOperationException("The Noise handshake state failed earlier and cannot be used.");
        }

        if (IsComplete)
        {
            throw new InvalidOperationException("The Noise handshake is already complete.");
        }

        if (IsMyTurn != write)
        {
            throw new InvalidOperationException(write ? "It is the peer's turn to send a handshake message." : "It is this side's turn to send a handshake message.");
        }
    }

    private void MixDh(Token token)
    {
        // Role-dependent keys (noise_spec §5.3): es = DH(e, rs) for the initiator, DH(s, re) for the
        // responder; se = DH(s, re) for the initiator, DH(e, rs) for the responder.
        (byte[] local, byte[]? remote) = token switch
        {
            Token.EE => (_ephemeralPrivate, _remoteEphemeral),
            Token.ES => IsInitiator ? (_ephemeralPrivate, _remoteStatic) : (_staticPrivate, _remoteEphemeral),
            Token.SE => IsInitiator ? (_staticPrivate, _remoteEphemeral) : (_ephemeralPrivate, _remoteStatic),
            _ => throw new InvalidOperationException($"Token {token} is not a DH token."),
        };

        if (remote is null)
        {
            throw new InvalidOperationException($"The {token} token needs a remote key that has not been received.");
        }

        Span<byte> shared = stackalloc byte[DhLength];
        try
        {
            if (!_curve.X25519Agree(local, remote, shared))
            {
                throw new InvalidDataException("The peer's X25519 key is unusable (a low-order point gives an all-zero shared secret).");
            }

            _symmetric.MixKey(shared);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(shared);
        }
    }
}
