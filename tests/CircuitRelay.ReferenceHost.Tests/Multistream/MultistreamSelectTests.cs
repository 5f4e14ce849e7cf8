using System.Buffers;
using System.IO.Pipelines;
using CircuitRelay.ReferenceHost.Multistream;
using CircuitRelay.ReferenceHost.Tests.TestSupport;

namespace CircuitRelay.ReferenceHost.Tests.Multistream;

public sealed class MultistreamSelectTests
{
    private static readonly string[] Supported = ["/yamux/1.0.0", "/noise"];

    private static bool IsSupported(string protocol) => Supported.Contains(protocol);

    [Fact]
    public async Task SelectOneAsync_ResponderSupportsFirst_BothAgree()
    {
        (DuplexPipe initiator, DuplexPipe responder) = DuplexPipe.CreatePair();

        Task<string> handled = MultistreamSelect.HandleAsync(responder, IsSupported).AsTask();
        string selected = await MultistreamSelect.SelectOneAsync(initiator, ["/noise"]).Within();

        selected.Should().Be("/noise");
        (await handled.Within()).Should().Be("/noise");
    }

    [Fact]
    public async Task SelectOneAsync_FirstRefused_SecondAccepted()
    {
        (DuplexPipe initiator, DuplexPipe responder) = DuplexPipe.CreatePair();

        Task<string> handled = MultistreamSelect.HandleAsync(responder, IsSupported).AsTask();
        string selected = await MultistreamSelect.SelectOneAsync(initiator, ["/tls/1.0.0", "/noise"]).Within();

        selected.Should().Be("/noise");
        (await handled.Within()).Should().Be("/noise");
    }

    [Fact]
    public async Task SelectOneAsync_NoneSupported_ThrowsProtocolNotSupported()
    {
        (DuplexPipe initiator, DuplexPipe responder) = DuplexPipe.CreatePair();

        Task<string> handled = MultistreamSelect.HandleAsync(responder, IsSupported).AsTask();
        Func<Task> select = () => MultistreamSelect.SelectOneAsync(initiator, ["/tls/1.0.0", "/mplex/6.7.0"]).Within();

        await select.Should().ThrowAsync<IOException>().WithMessage("protocol not supported*");
        initiator.Output.Complete();
        await FluentActions.Awaiting(() => handled.Within()).Should().ThrowAsync<EndOfStreamException>();
    }

    [Fact]
    public async Task SelectOneAsync_FirstWrite_IsHeaderAndProposalTogether()
    {
        (DuplexPipe initiator, DuplexPipe responder) = DuplexPipe.CreatePair();

        Task<string> select = MultistreamSelect.SelectOneAsync(initiator, ["/noise"]).AsTask();
        ReadResult first = await responder.Input.ReadAsync().Within();

        Convert.ToHexString(first.Buffer.ToArray()).Should().Be("132F6D756C746973747265616D2F312E302E300A" + "072F6E6F6973650A");
        responder.Input.AdvanceTo(first.Buffer.End);
        select.IsCompleted.Should().BeFalse();
    }

    [Fact]
    public async Task HandleAsync_InitiatorPipelinesData_ResponderStillReadsIt()
    {
        (DuplexPipe initiator, DuplexPipe responder) = DuplexPipe.CreatePair();
        var pipelined = new Pipe();
        MultistreamMessage.Write(pipelined.Writer, MultistreamMessage.Header);
        MultistreamMessage.Write(pipelined.Writer, "/noise");
        await pipelined.Writer.FlushAsync();
        pipelined.Reader.TryRead(out ReadResult frames).Should().BeTrue();
        byte[] negotiation = frames.Buffer.ToArray();

        await initiator.Output.WriteAsync((byte[])[.. negotiation, .. "early data"u8.ToArray()]);
        initiator.Output.Complete();
        string selected = await MultistreamSelect.HandleAsync(responder, IsSupported).Within();
        byte[] rest = await PipeTesting.ReadToEndAsync(responder.Input).Within();

        selected.Should().Be("/noise");
        rest.Should().Equal("early data"u8.ToArray());
    }

    [Fact]
    public async Task SelectOneAsync_ResponderSendsDataAfterEcho_InitiatorStillReadsIt()
    {
        (DuplexPipe initiator, DuplexPipe responder) = DuplexPipe.CreatePair();
        Task<string> select = MultistreamSelect.SelectOneAsync(initiator, ["/noise"]).AsTask();

        MultistreamMessage.Write(responder.Output, MultistreamMessage.Header);
        MultistreamMessage.Write(responder.Output, "/noise");
        await responder.Output.WriteAsync("server hello"u8.ToArray());
        responder.Output.Complete();
        string selected = await select.Within();
        byte[] rest = await PipeTesting.ReadToEndAsync(initiator.Input).Within();

        selected.Should().Be("/noise");
        rest.Should().Equal("server hello"u8.ToArray());
    }

    [Fact]
    public async Task HandleAsync_LsRequest_AnsweredWithNa()
    {
        (DuplexPipe initiator, DuplexPipe responder) = DuplexPipe.CreatePair();
        Task<string> handled = MultistreamSelect.HandleAsync(responder, IsSupported).AsTask();

        MultistreamMessage.Write(initiator.Output, MultistreamMessage.Header);
        MultistreamMessage.Write(initiator.Output, MultistreamMessage.List);
        await initiator.Output.FlushAsync();
        string header = await MultistreamMessage.ReadAsync(initiator.Input).Within();
        string answer = await MultistreamMessage.ReadAsync(initiator.Input).Within();

        header.Should().Be(MultistreamMessage.Header);
        answer.Should().Be("na");
        handled.IsCompleted.Should().BeFalse();
    }

    [Fact]
    public async Task HandleAsync_WritesHeaderBeforeReadingAnything()
    {
        (DuplexPipe initiator, DuplexPipe responder) = DuplexPipe.CreatePair();

        Task<string> handled = MultistreamSelect.HandleAsync(responder, IsSupported).AsTask();
        string header = await MultistreamMessage.ReadAsync(initiator.Input).Within();

        header.Should().Be(MultistreamMessage.Header);
        handled.IsCompleted.Should().BeFalse();
    }

    [Fact]
    public async Task HandleAsync_WrongHeader_ThrowsInvalidData()
    {
        (DuplexPipe initiator, DuplexPipe responder) = DuplexPipe.CreatePair();
        Task<string> handled = MultistreamSelect.HandleAsync(responder, IsSupported).AsTask();

        MultistreamMessage.Write(initiator.Output, "/multistream/2.0.0");
        await initiator.Output.FlushAsync();

        await FluentActions.Awaiting(() => handled.Within()).Should().ThrowAsync<InvalidDataException>();
    }

    [Fact]
    public async Task SelectOneAsync_UnexpectedAnswer_ThrowsInvalidData()
    {
        (DuplexPipe initiator, DuplexPipe responder) = DuplexPipe.CreatePair();
        Task<string> select = MultistreamSelect.SelectOneAsync(initiator, ["/noise"]).AsTask();

        MultistreamMessage.Write(responder.Output, MultistreamMessage.Header);
        MultistreamMessage.Write(responder.Output, "/tls/1.0.0");
        await responder.Output.FlushAsync();

        await FluentActions.Awaiting(() => select.Within()).Should().ThrowAsync<InvalidDataException>();
    }

    [Fact]
    public async Task HandleAsync_OversizedProposal_ThrowsInvalidData()
    {
        (DuplexPipe initiator, DuplexPipe responder) = DuplexPipe.CreatePair();
        Task<string> handled = MultistreamSelect.HandleAsync(responder, IsSupported).AsTask();

        MultistreamMessage.Write(initiator.Output, MultistreamMessage.Header);
        await initiator.Output.WriteAsync(new byte[] { 0x81, 0x08 });

        await FluentActions.Awaiting(() => handled.Within()).Should().ThrowAsync<InvalidDataException>();
    }

    [Fact]
    public async Task SelectOneAsync_NoProtocols_ThrowsArgumentException()
    {
        (DuplexPipe initiator, _) = DuplexPipe.CreatePair();

        Func<Task> select = () => MultistreamSelect.SelectOneAsync(initiator, []).AsTask();

        await select.Should().ThrowAsync<ArgumentException>();
    }
}
