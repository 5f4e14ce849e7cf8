using System.IO.Pipelines;
using CircuitRelay.ReferenceHost.Tests.TestSupport;
using CircuitRelay.ReferenceHost.Yamux;
using Microsoft.Extensions.Logging;

namespace CircuitRelay.ReferenceHost.Tests.Yamux;

/// <summary>The session's log events (src/CircuitRelay.ReferenceHost/Log.Yamux.cs): ids and names ship, so tests pin both.</summary>
internal static class YamuxEvents
{
    public static readonly EventId SessionClosing = new(100, "YamuxSessionClosing");
    public static readonly EventId ProtocolViolation = new(101, "YamuxProtocolViolation");
    public static readonly EventId InboundStreamRefused = new(102, "YamuxInboundStreamRefused");
    public static readonly EventId KeepAliveTimeout = new(103, "YamuxKeepAliveTimeout");
    public static readonly EventId ControlQueueOverflow = new(104, "YamuxControlQueueOverflow");
}

/// <summary>Like <see cref="YamuxPair.CreateWithRawPeer"/>, with the session logging to a <see cref="TestLogging"/>.</summary>
internal static class LoggedYamux
{
    public static (YamuxSession Session, RawYamuxPeer Peer) CreateWithRawPeer(TestLogging logging, bool sessionIsClient, YamuxOptions? options = null, PipeOptions? sessionToPeer = null)
    {
        var peerToSession = new Pipe();
        var toPeer = new Pipe(sessionToPeer ?? PipeOptions.Default);
        var session = new YamuxSession(new DuplexPipe(peerToSession.Reader, toPeer.Writer), sessionIsClient, logging.CreateLogger<YamuxSession>(), options ?? YamuxPair.Options());
        return (session, new RawYamuxPeer(new DuplexPipe(toPeer.Reader, peerToSession.Writer)));
    }
}
