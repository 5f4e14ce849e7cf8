using System.IO.Pipelines;

namespace CircuitRelay.ReferenceHost.Multistream;

/// <summary>
/// multistream-select 1.0 negotiation (digest 4.2) over a duplex pipe, for both roles.
/// </summary>
/// <remarks>
/// Neither role reads past the last negotiation frame: bytes the peer pipelines after its final
/// frame stay in the pipe for the negotiated protocol. Neither role completes the pipe; on failure
/// the caller decides whether to close or reset it.
/// </remarks>
internal static class MultistreamSelect
{
    /// <summary>
    /// Negotiates as initiator: sends the header and the first proposal in one write, then proposes
    /// each protocol in turn until the responder echoes one.
    /// </summary>
    /// <param name="pipe">The stream or connection to negotiate on.</param>
    /// <param name="protocols">The protocol ids to propose, in order of preference.</param>
    /// <param name="cancellationToken">Cancels the negotiation.</param>
    /// <returns>The protocol the responder accepted.</returns>
    /// <exception cref="IOException">The responder answered <c>na</c> to every proposal ("protocol not supported"),
    /// or the pipe failed.</exception>
    /// <exception cref="InvalidDataException">The responder broke the protocol (wrong header, unexpected answer,
    /// malformed frame).</exception>
    /// <exception cref="EndOfStreamException">The responder closed the pipe during negotiation.</exception>
    public static async ValueTask<string> SelectOneAsync(IDuplexPipe pipe, IReadOnlyList<string> protocols, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(pipe);
        ArgumentNullException.ThrowIfNull(protocols);
        if (protocols.Count == 0)
        {
            throw new ArgumentException("At least one protocol must be proposed.", nameof(protocols));
        }

        MultistreamMessage.Write(pipe.Output, MultistreamMessage.Header);
        MultistreamMessage.Write(pipe.Output, protocols[0]);
        await FlushAsync(pipe.Output, cancellationToken).ConfigureAwait(false);
        await ReadHeaderAsync(pipe.Input, cancellationToken).ConfigureAwait(false);

        for (int i = 0; i < protocols.Count; i++)
        {
            if (i > 0)
            {
                MultistreamMessage.Write(pipe.Output, protocols[i]);
                await FlushAsync(pipe.Output, cancellationToken).ConfigureAwait(false);
            }

            string answer = await MultistreamMessage.ReadAsync(pipe.Input, cancellationToken).ConfigureAwait(false);
            if (string.Equals(answer, protocols[i], StringComparison.Ordinal))
            {
                return answer;
            }

            if (!string.Equals(answer, MultistreamMessage.NotAvailable, StringComparison.Ordinal))
            {
                throw new InvalidDataException($"The multistream responder answered '{answer}' to the proposal '{protocols[i]}'.");
            }
        }

        throw new IOException($"protocol not supported: the peer refused {string.Join(", ", protocols)}.");
    }

    /// <summary>
    /// Negotiates as responder: writes the header at once, answers <c>na</c> to unsupported proposals
    /// and to <c>ls</c>, and echoes the first supported proposal.
    /// </summary>
    /// <param name="pipe">The stream or connection to negotiate on.</param>
    /// <param name="isSupported">Whether a proposed protocol id is accepted (exact match is the libp2p default).</param>
    /// <param name="cancellationToken">Cancels the negotiation.</param>
    /// <returns>The accepted protocol.</returns>
    /// <exception cref="InvalidDataException">The initiator broke the protocol (wrong header, malformed frame).</exception>
    /// <exception cref="EndOfStreamException">The initiator closed the pipe before a protocol was agreed (for
    /// example after its last <c>na</c>).</exception>
    /// <exception cref="IOException">The pipe failed.</exception>
    public static async ValueTask<string> HandleAsync(IDuplexPipe pipe, Func<string, bool> isSupported, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(pipe);
        ArgumentNullException.ThrowIfNull(isSupported);

        MultistreamMessage.Write(pipe.Output, MultistreamMessage.Header);
        await FlushAsync(pipe.Output, cancellationToken).ConfigureAwait(false);
        await ReadHeaderAsync(pipe.Input, cancellationToken).ConfigureAwait(false);

        while (true)
        {
            string proposal = await MultistreamMessage.ReadAsync(pipe.Input, cancellationToken).ConfigureAwait(false);
            bool accepted = !string.Equals(proposal, MultistreamMessage.List, StringComparison.Ordinal)
                && !string.Equals(proposal, MultistreamMessage.NotAvailable, StringComparison.Ordinal)
                && isSupported(proposal);
            MultistreamMessage.Write(pipe.Output, accepted ? proposal : MultistreamMessage.NotAvailable);
            await FlushAsync(pipe.Output, cancellationToken).ConfigureAwait(false);
            if (accepted)
            {
                return proposal;
            }
        }
    }

    private static async ValueTask ReadHeaderAsync(PipeReader input, CancellationToken cancellationToken)
    {
        string header = await MultistreamMessage.ReadAsync(input, cancellationToken).ConfigureAwait(false);
        if (!string.Equals(header, MultistreamMessage.Header, StringComparison.Ordinal))
        {
            throw new InvalidDataException($"Expected the multistream header '{MultistreamMessage.Header}' but received '{header}'.");
        }
    }

    private static async ValueTask FlushAsync(PipeWriter output, CancellationToken cancellationToken)
    {
        FlushResult result = await output.FlushAsync(cancellationToken).ConfigureAwait(false);
        if (result.IsCanceled)
        {
            throw new OperationCanceledException("The multistream-select write was cancelled.");
        }

        if (result.IsCompleted)
        {
            throw new IOException("The peer stopped reading during multistream-select negotiation.");
        }
    }
}
