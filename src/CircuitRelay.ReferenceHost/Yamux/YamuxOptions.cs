namespace CircuitRelay.ReferenceHost.Yamux;

/// <summary>Settings of a <see cref="YamuxSession"/>. Defaults follow go-yamux as go-libp2p configures it.</summary>
internal sealed class YamuxOptions
{
    /// <summary>The window every stream starts with in each direction (digest 6.3).</summary>
    public const int DefaultStreamWindow = 256 * 1024;

    /// <summary>The receive window granted to each new stream. Default and minimum 256 KiB; anything above is
    /// announced with the SYN or ACK.</summary>
    public int InitialStreamWindowSize { get; init; } = DefaultStreamWindow;

    /// <summary>The largest receive window auto-tuning may grow a stream to. Default 16 MiB.
    /// Setting it equal to <see cref="InitialStreamWindowSize"/> disables auto-tuning.</summary>
    public int MaxStreamWindowSize { get; init; } = 16 * 1024 * 1024;

    /// <summary>The largest payload of one outgoing data frame; larger writes are split. Default 64 KiB.</summary>
    public int MaxFramePayloadSize { get; init; } = 64 * 1024;

    /// <summary>How many inbound streams may wait to be accepted (more are reset), and how many outbound
    /// streams may wait for their ACK (more wait in <see cref="YamuxSession.OpenStreamAsync"/>). Default 256.</summary>
    public int AcceptBacklog { get; init; } = 256;

    /// <summary>How many bytes the application may write to a stream ahead of the send window before its
    /// flush waits. Default 64 KiB.</summary>
    public int StreamWriteBufferSize { get; init; } = 64 * 1024;

    /// <summary>The keep-alive ping interval; a ping still unanswered at the next tick closes the session.
    /// <see langword="null"/> disables keep-alive. Default 30 s.</summary>
    public TimeSpan? KeepAliveInterval { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>How many control frames (window updates, ping answers, resets) may wait for the connection
    /// before the session gives up on a peer that does not read. Default 4096.</summary>
    public int MaxPendingControlFrames { get; init; } = 4096;

    /// <summary>The clock for keep-alive, round-trip times and window auto-tuning.</summary>
    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;

    /// <summary>Checks every setting.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A setting is out of range.</exception>
    public void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(InitialStreamWindowSize, DefaultStreamWindow, nameof(InitialStreamWindowSize));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxStreamWindowSize, InitialStreamWindowSize, nameof(MaxStreamWindowSize));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxFramePayloadSize, 1, nameof(MaxFramePayloadSize));
        ArgumentOutOfRangeException.ThrowIfLessThan(AcceptBacklog, 1, nameof(AcceptBacklog));
        ArgumentOutOfRangeException.ThrowIfLessThan(StreamWriteBufferSize, 1, nameof(StreamWriteBufferSize));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxPendingControlFrames, 16, nameof(MaxPendingControlFrames));
        if (KeepAliveInterval is { } interval)
        {
            ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(interval, TimeSpan.Zero, nameof(KeepAliveInterval));
        }

        ArgumentNullException.ThrowIfNull(TimeProvider);
    }
}
