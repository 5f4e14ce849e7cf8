using System.Buffers;
using System.IO.Pipelines;
using CircuitRelay.ReferenceHost.Pipes;

namespace CircuitRelay.ReferenceHost.Tests.Pipes;

public sealed class DrainingPipeReaderTests
{
    [Fact]
    public async Task ReadAsync_FailedWithDataBuffered_ShowsTheDataAsNotCompletedThenThrows()
    {
        (_, DrainingPipeReader reader) = Failed([1, 2, 3, 4, 5, 6]);

        ReadResult first = await reader.ReadAsync();
        first.Buffer.ToArray().Should().Equal(1, 2, 3, 4, 5, 6);
        first.IsCompleted.Should().BeFalse();
        reader.AdvanceTo(first.Buffer.GetPosition(4));
        ReadResult second = await reader.ReadAsync();
        second.Buffer.ToArray().Should().Equal(5, 6);
        reader.AdvanceTo(second.Buffer.End);

        Func<Task> third = async () => await reader.ReadAsync();
        await third.Should().ThrowAsync<IOException>().WithMessage("cut");
    }

    [Fact]
    public async Task ReadAsync_EverythingExaminedNothingConsumed_ThrowsInsteadOfSpinning()
    {
        (_, DrainingPipeReader reader) = Failed([1, 2, 3]);

        ReadResult first = await reader.ReadAsync();
        reader.AdvanceTo(first.Buffer.Start, first.Buffer.End); // a parser waiting for more than will ever come

        Func<Task> second = async () => await reader.ReadAsync();
        await second.Should().ThrowAsync<IOException>().WithMessage("cut");
    }

    [Fact]
    public async Task ReadAsync_CleanEnd_IsCompletedAsUsual()
    {
        var pipe = new Pipe();
        var reader = new DrainingPipeReader(pipe.Reader);
        await pipe.Writer.WriteAsync(new byte[] { 9 });
        await pipe.Writer.CompleteAsync();

        ReadResult result = await reader.ReadAsync();

        result.IsCompleted.Should().BeTrue();
        result.Buffer.ToArray().Should().Equal(9);
    }

    private static (Pipe Pipe, DrainingPipeReader Reader) Failed(byte[] data)
    {
        var pipe = new Pipe();
        var reader = new DrainingPipeReader(pipe.Reader);
        pipe.Writer.Write(data.AsSpan());
        _ = pipe.Writer.FlushAsync().AsTask();
        reader.Completion.Fail(new IOException("cut"));
        pipe.Writer.Complete();
        return (pipe, reader);
    }
}
