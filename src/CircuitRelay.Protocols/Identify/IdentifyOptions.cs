using CircuitRelay.Abstractions;

namespace CircuitRelay.Protocols.Identify;

/// <summary>What this node announces in Identify (see <see cref="IdentifyService"/>).</summary>
public sealed class IdentifyOptions
{
    /// <summary>The protocol version announced by default (go, rust and js announce it too).</summary>
    public const string DefaultProtocolVersion = "ipfs/0.1.0";

    /// <summary>The longest accepted <see cref="AgentVersion"/>, in UTF-8 bytes.</summary>
    public const int MaxAgentVersionLength = 256;

    /// <summary>
    /// This node's "name/version" (e.g. <c>my-app/1.2.0</c>), at most <see cref="MaxAgentVersionLength"/> UTF-8 bytes.
    /// Default <c>circuitrelay-dotnet/&lt;this package's version&gt;</c>.
    /// </summary>
    public string AgentVersion { get; set; } = "circuitrelay-dotnet/" + typeof(IdentifyOptions).Assembly.GetName().Version?.ToString(3);

    /// <summary>The protocol family announced. Default <see cref="DefaultProtocolVersion"/>.</summary>
    public string ProtocolVersion { get; set; } = DefaultProtocolVersion;

    /// <summary>
    /// Returns the protocols this node accepts inbound streams for; asked for every message sent, so handlers
    /// registered later are announced in the next push. <see cref="ILibp2pHost"/> does not list its handlers, so a
    /// host that wants its protocols announced sets this. Default <see langword="null"/>: only Identify's own
    /// <see cref="IdentifyService.ProtocolId"/> and <see cref="IdentifyService.PushProtocolId"/> are announced.
    /// </summary>
    public Func<IReadOnlyCollection<string>>? LocalProtocols { get; set; }

    /// <summary>Checks the options; the service calls it at construction.</summary>
    /// <exception cref="ArgumentException">An option is missing or out of range.</exception>
    internal void Validate()
    {
        if (AgentVersion is null)
        {
            throw new ArgumentException("IdentifyOptions.AgentVersion must be set.", nameof(AgentVersion));
        }

        if (System.Text.Encoding.UTF8.GetByteCount(AgentVersion) > MaxAgentVersionLength)
        {
            throw new ArgumentException($"The agent version is longer than {MaxAgentVersionLength} UTF-8 bytes.", nameof(AgentVersion));
        }

        if (string.IsNullOrEmpty(ProtocolVersion))
        {
            throw new ArgumentException("IdentifyOptions.ProtocolVersion must be set.", nameof(ProtocolVersion));
        }
    }
}
