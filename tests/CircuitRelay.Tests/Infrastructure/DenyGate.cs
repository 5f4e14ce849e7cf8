using CircuitRelay.Abstractions;

namespace CircuitRelay.Tests.Infrastructure;

/// <summary>An inbound gate that denies every attempt at one stage (and counts what it denied).</summary>
public sealed class DenyGate(InboundStage stage, RelayStatus status = RelayStatus.PermissionDenied) : IInboundGate
{
    private int _denied;

    /// <summary>How many attempts it denied.</summary>
    public int Denied => Volatile.Read(ref _denied);

    public InboundDecision Check(InboundAttempt attempt)
    {
        ArgumentNullException.ThrowIfNull(attempt);
        if (attempt.Stage != stage)
        {
            return InboundDecision.Allow;
        }

        Interlocked.Increment(ref _denied);
        return InboundDecision.Deny("test-gate", status);
    }
}
