using System.IO.Pipelines;
using System.Text;
using CircuitRelay.Abstractions;
using CircuitRelay.ReferenceHost.Transports.Tcp;

namespace CircuitRelay.ReferenceHost.Tests.Transports.Tcp;

public sealed class TcpTransportTests
{
    private static readonly Multiaddr AnyLoopbackPort = Multiaddr.Parse("/ip4/127.0.0.1/tcp/0");

    [Theory]
    [InlineData("/ip4/127.0.0.1/tcp/4001", true)]
    [InlineData("/ip6/::1/tcp/4001", true)]
    [InlineData("/dns4/localhost/tcp/4001/p2p/12D3KooWSs8q7pFEyxht66a1moFES2YPFLurbbcpKwYUhpGDaGJw", true)]
    [InlineData("/ip4/127.0.0.1/udp/4001", false)]
    [InlineData("/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWSs8q7pFEyxht66a1moFES2YPFLurbbcpKwYUhpGDaGJw/p2p-circuit/p2p/12D3KooWSs8q7pFEyxht66a1moFES2YPFLurbbcpKwYUhpGDaGJw", false)]
    public void CanDial_Address_AcceptsOnlyDirectTcp(string address, bool expected)
    {
        new TcpTransport().CanDial(Multiaddr.Parse(address)).Should().Be(expected);
    }

    [Theory]
    [InlineData("/ip4/127.0.0.1/tcp/0", true)]
    [InlineData("/dns4/localhost/tcp/4001", false)]
    [InlineData("/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWSs8q7pFEyxht66a1moFES2YPFLurbbcpKwYUhpGDaGJw", false)]
    public void CanListen_Address_AcceptsOnlyIpAndTcp(string address, bool expected)
    {
        new TcpTransport().CanListen(Multiaddr.Parse(address)).Should().Be(expected);
    }

    [Fact]
    public async Task ListenAsync_PortZero_AddressCarriesTheBoundPort()
    {
        var transport = new TcpTransport();

        await using ITransportListener listener = await transport.ListenAsync(AnyLoopbackPort).Within();

        listener.Addresses.Should().ContainSingle();
        listener.Addresses[0].TryGetIPEndPoint(out System.Net.IPEndPoint? endPoint).Should().BeTrue();
        endPoint!.Port.Should().BeGreaterThan(0);
    }

    [Fact]
    public async Task DialAsync_ToListener_BothEndsCarryBytesAndKnowTheirDirection()
    {
        var transport = new TcpTransport();
        await using ITransportListener listener = await transport.ListenAsync(AnyLoopbackPort).Within();

        await using ITransportConnection dialed = await transport.DialAsync(listener.Addresses[0]).Within();
        await using ITransportConnection accepted = (await listener.AcceptAsync().Within())!;

        dialed.Direction.Should().Be(ConnectionDirection.Outbound);
        accepted.Direction.Should().Be(ConnectionDirection.Inbound);
        accepted.RemoteAddress.Should().Be(dialed.LocalAddress);
        dialed.ClaimedRemotePeer.Should().BeNull();
        accepted.Relay.Should().BeNull();
        await dialed.Output.WriteAsync(Encoding.ASCII.GetBytes("ping")).Within();
        await dialed.Output.CompleteAsync();
        (await ReadAllAsync(accepted.Input).Within()).Should().Be("ping");
    }

    [Fact]
    public async Task AcceptAsync_AfterDispose_ReturnsNull()
    {
        var transport = new TcpTransport();
        ITransportListener listener = await transport.ListenAsync(AnyLoopbackPort).Within();
        Task<ITransportConnection?> pending = listener.AcceptAsync().AsTask();

        await listener.DisposeAsync();

        (await pending.Within()).Should().BeNull();
        (await listener.AcceptAsync().Within()).Should().BeNull();
    }

    [Fact]
    public async Task DialAsync_ReuseListenPort_RemoteSeesTheListenPort()
    {
        var local = new TcpTransport();
        var remote = new TcpTransport();
        await using ITransportListener ours = await local.ListenAsync(AnyLoopbackPort).Within();
        await using ITransportListener theirs = await remote.ListenAsync(AnyLoopbackPort).Within();

        await using ITransportConnection dialed = await local.DialAsync(theirs.Addresses[0], new TransportDialOptions { ReuseListenPort = true }).Within();
        await using ITransportConnection accepted = (await theirs.AcceptAsync().Within())!;

        accepted.RemoteAddress.Should().Be(ours.Addresses[0]);
    }

    [Fact]
    public async Task DialAsync_NobodyListens_ThrowsIOException()
    {
        var transport = new TcpTransport();
        Multiaddr closed;
        await using (ITransportListener listener = await transport.ListenAsync(AnyLoopbackPort).Within())
        {
            closed = listener.Addresses[0];
        }

        Func<Task> act = () => transport.DialAsync(closed).AsTask().Within();

        await act.Should().ThrowAsync<IOException>();
    }

    private static async Task<string> ReadAllAsync(PipeReader reader)
    {
        var text = new StringBuilder();
        while (true)
        {
            ReadResult result = await reader.ReadAsync();
            foreach (ReadOnlyMemory<byte> segment in result.Buffer)
            {
                text.Append(Encoding.ASCII.GetString(segment.Span));
            }

            reader.AdvanceTo(result.Buffer.End);
            if (result.IsCompleted)
            {
                return text.ToString();
            }
        }
    }
}
