using CircuitRelay.ReferenceHost.Tests.TestSupport;
using CircuitRelay.ReferenceHost.Yamux;
using Microsoft.Extensions.Logging;

namespace CircuitRelay.ReferenceHost.Tests.Yamux;

public sealed class YamuxProtocolViolationTests
{
    public static TheoryData<string, string> Violations => new()
    {
        { "bad version", "010100010000000100000000" },
        { "bad type", "000400000000000000000000" },
        { "server id from client", "000100010000000200000000" },
        { "stream id zero", "000100010000000000000000" },
        { "duplicate stream", "000100010000000100000000" + "000100010000000100000000" },
    };

    [Theory]
    [MemberData(nameof(Violations))]
    public async Task Receive_Violation_SendsProtocolErrorGoAwayAndCloses(string name, string hex)
    {
        using var logging = new TestLogging();
        (YamuxSession server, RawYamuxPeer client) = LoggedYamux.CreateWithRawPeer(logging, sessionIsClient: false);
        await using YamuxSession owned = server;

        await client.SendRawAsync(Convert.FromHexString(hex)).Within();
        List<YamuxHeader> frames = await client.ReceiveToEndAsync().Within();

        frames.Should().NotBeEmpty(name);
        frames[^1].Should().Be(new YamuxHeader(YamuxFrameType.GoAway, YamuxFlags.None, 0, (uint)YamuxGoAwayCode.ProtocolError), name);
        InvalidDataException error = (await FluentActions.Awaiting(() => server.Completion.Within()).Should().ThrowAsync<InvalidDataException>()).Which;
        logging.ShouldHaveLoggedOnce(YamuxEvents.ProtocolViolation, LogLevel.Warning).GetStructuredStateValue("Detail").Should().Be(error.Message);
    }

    [Fact]
    public async Task Receive_ClientIdFromServer_ClientSessionSendsProtocolErrorGoAway()
    {
        using var logging = new TestLogging();
        (YamuxSession client, RawYamuxPeer server) = LoggedYamux.CreateWithRawPeer(logging, sessionIsClient: true);
        await using YamuxSession owned = client;

        await server.SendAsync(new YamuxHeader(YamuxFrameType.WindowUpdate, YamuxFlags.Syn, 3, 0)).Within();
        List<YamuxHeader> frames = await server.ReceiveToEndAsync().Within();

        frames.Should().Equal(new YamuxHeader(YamuxFrameType.GoAway, YamuxFlags.None, 0, (uint)YamuxGoAwayCode.ProtocolError));
        await FluentActions.Awaiting(() => client.Completion.Within()).Should().ThrowAsync<InvalidDataException>().WithMessage("*both endpoints act as clients*");
        logging.ShouldHaveLoggedOnce(YamuxEvents.ProtocolViolation, LogLevel.Warning).Message.Should().Contain("both endpoints act as clients");
    }

    [Fact]
    public async Task Receive_Violation_FailsOpenStreams()
    {
        using var logging = new TestLogging();
        (YamuxSession server, RawYamuxPeer client) = LoggedYamux.CreateWithRawPeer(logging, sessionIsClient: false);
        await using YamuxSession owned = server;
        await client.SendAsync(new YamuxHeader(YamuxFrameType.WindowUpdate, YamuxFlags.Syn, 1, 0)).Within();
        YamuxStream inbound = (await server.AcceptStreamAsync().Within())!;

        await client.SendRawAsync(Convert.FromHexString("010000000000000000000000")).Within();

        await FluentActions.Awaiting(() => PipeTesting.ReadToEndAsync(inbound.Input).Within()).Should().ThrowAsync<IOException>();
        await inbound.Completion.Within();
        logging.ShouldHaveLoggedOnce(YamuxEvents.ProtocolViolation, LogLevel.Warning);
    }
}
