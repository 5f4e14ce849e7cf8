using CircuitRelay.ReferenceHost.Yamux;
using Microsoft.Extensions.Logging.Abstractions;

namespace CircuitRelay.ReferenceHost.Tests.TestSupport;

/// <summary>Builds sessions over crossed in-memory pipes.</summary>
internal static class YamuxPair
{
    /// <summary>Test defaults: no keep-alive, so no frame appears that a test did not cause.</summary>
    public static YamuxOptions Options(TimeProvider? time = null) => new() { KeepAliveInterval = null, TimeProvider = time ?? TimeProvider.System };

    public static (YamuxSession Client, YamuxSession Server) Create(YamuxOptions? clientOptions = null, YamuxOptions? serverOptions = null)
    {
        (DuplexPipe left, DuplexPipe right) = DuplexPipe.CreatePair();
        return (
            new YamuxSession(left, isClient: true, NullLogger.Instance, clientOptions ?? Options()),
            new YamuxSession(right, isClient: false, NullLogger.Instance, serverOptions ?? Options()));
    }

    /// <summary>A real session on one end and a raw, test-driven peer on the other.</summary>
    public static (YamuxSession Session, RawYamuxPeer Peer) CreateWithRawPeer(bool sessionIsClient, YamuxOptions? options = null)
    {
        (DuplexPipe left, DuplexPipe right) = DuplexPipe.CreatePair();
        return (new YamuxSession(left, sessionIsClient, NullLogger.Instance, options ?? Options()), new RawYamuxPeer(right));
    }
}
