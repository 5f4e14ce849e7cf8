using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace CircuitRelay.Node;

/// <summary>
/// <c>node --config &lt;file.json&gt;</c>: a JSON file in the shape <c>CircuitRelay.Hosting</c> binds
/// (<c>{ "CircuitRelay": { "Host": { … }, "Node": { … }, "RelayServer": { … }, … } }</c>), each key standing for one
/// command-line option (<see cref="Keys"/>). The file's values become options; options given on the command line win.
/// A key the node does not know is bad configuration. <c>--print-config</c> prints the effective values in the same shape.
/// </summary>
internal static class NodeConfigFile
{
    public const string ConfigFlag = "--config";

    /// <summary>Each configuration key (under <c>CircuitRelay</c>) and the option it stands for.</summary>
    public static readonly IReadOnlyList<Key> Keys =
    [
        new("Host:ListenAddresses", "--listen", Kind.Many),
        new("Host:IdentityPath", "--identity"),
        new("Host:ExternalAddresses", "--external-address", Kind.Many),
        new("Host:MaxInboundConnections", "--max-inbound-connections"),
        new("Host:MaxInboundConnectionsPerIp", "--max-connections-per-ip"),
        new("Host:MaxInboundConnectionsPerSubnet", "--max-connections-per-subnet"),
        new("Host:InboundIdleTimeout", "--idle-timeout", Kind.Seconds),
        new("Node:Role", "--role", Kind.Role),
        new("Node:RelayService", "--relay-service", Kind.Lower),
        new("Node:RelayCandidates", "--relay-candidate", Kind.Many),
        new("Node:StaticRelays", "--reservation", Kind.Many),
        new("Node:AutoNat", "--autonat", Kind.Lower),
        new("Node:AdminListen", "--admin-listen"),
        new("Node:AdminAllowRemote", "--admin-allow-remote", Kind.Flag),
        new("Node:PrometheusListen", "--prometheus-listen"),
        new("RelayServer:ReservationTtl", "--reservation-ttl", Kind.Seconds),
        new("RelayServer:MaxReservations", "--max-reservations"),
        new("RelayServer:MaxReservationsPerIp", "--max-reservations-per-ip"),
        new("RelayServer:MaxReservationsPerAsn", "--max-reservations-per-asn"),
        new("RelayServer:MaxCircuits", "--max-circuits"),
        new("RelayServer:MaxCircuitsPerPeer", "--max-circuits-per-peer"),
        new("RelayServer:CircuitDurationLimit", "--circuit-duration-limit", Kind.Seconds),
        new("RelayServer:CircuitDataLimit", "--circuit-data-limit"),
        new("RelayServer:MaxBandwidthPerPeer", "--max-bandwidth-per-peer"),
        new("RelayServer:BandwidthBurstPerPeer", "--bandwidth-burst-per-peer"),
        new("RelayServer:ReservationRateLimitPerPeer:Permits", "--reservation-rate-per-peer"),
        new("RelayServer:ConnectRateLimitPerPeer:Permits", "--connect-rate-per-peer"),
        new("RelayServer:ReservationRateLimitPerIp:Permits", "--reservation-rate-per-ip"),
        new("RelayServer:ConnectRateLimitPerIp:Permits", "--connect-rate-per-ip"),
        new("RelayServer:LoadTightFactor", "--load-tight-factor"),
        new("Host:MaxStreamReceiveWindow", "--max-stream-window"),
        new("RelayClient:UnknownRelayCap", "--inbound-cap-unknown-relay"),
        new("Inbound:PerRelay", "--inbound-cap-per-relay"),
        new("Inbound:WhilePrivate", "--inbound-cap-private"),
        new("Advert:Capacity", "--advertise-capacity"),
        new("Advert:Ttl", "--advertise-ttl", Kind.Seconds),
        new("Advert:Addresses", "--advertise-address", Kind.Many),
        new("AutoRelay:DesiredReservations", "--max-relays"),
        new("AutoRelay:LivenessInterval", "--relay-liveness-interval", Kind.Seconds),
        new("AutoRelay:LivenessTimeout", "--relay-liveness-timeout", Kind.Seconds),
        new("AutoRelay:ReserveTimeout", "--reserve-timeout", Kind.Seconds),
        new("AutoRelay:CycleInterval", "--autorelay-interval", Kind.Seconds),
        new("RelayPool:MinSources", "--relay-min-sources"),
        new("RelayPool:MaxPeersPerRelay", "--max-peers-per-relay"),
        new("RelayPool:RngSeed", "--rng-seed"),
        new("RelayPool:AllowPrivate", "--relay-allow-private", Kind.Flag),
        new("AutoNat:Confidence", "--autonat-confidence"),
        new("AutoNat:BootDelay", "--autonat-boot-delay", Kind.Seconds),
        new("AutoNat:RetryInterval", "--autonat-retry", Kind.Seconds),
        new("AutoNatServer:AllowPrivate", "--autonat-allow-private", Kind.Flag),
    ];

    /// <summary>How a key's JSON value becomes option tokens.</summary>
    public enum Kind
    {
        /// <summary>One value, as it is.</summary>
        Value,

        /// <summary>An array: the option once per element.</summary>
        Many,

        /// <summary>A duration (<c>"00:02:00"</c> or a number of seconds): the option takes seconds.</summary>
        Seconds,

        /// <summary>A name (<c>"On"</c>): the option takes it in lower case.</summary>
        Lower,

        /// <summary>A role (<c>"Unknown"</c>, <c>"Public"</c>, <c>"Private"</c>): the option takes auto, public or private.</summary>
        Role,

        /// <summary>A boolean: the option is present when true.</summary>
        Flag,
    }

    /// <summary>A configuration key and its option.</summary>
    public sealed record Key(string Path, string Flag, Kind Kind = Kind.Value);

    /// <summary>
    /// Returns <paramref name="args"/> with the configuration file's values appended as options (those not given on the
    /// command line), or the arguments unchanged without <c>--config</c>.
    /// </summary>
    /// <exception cref="ArgumentException">The file is missing, is not JSON, or has a key the node does not know; the message names it.</exception>
    public static string[] Expand(string[] args)
    {
        int at = Array.FindIndex(args, a => a == ConfigFlag || a.StartsWith(ConfigFlag + "=", StringComparison.Ordinal));
        if (at < 0)
        {
            return args;
        }

        string path = args[at].Length > ConfigFlag.Length ? args[at][(ConfigFlag.Length + 1)..] : at + 1 < args.Length ? args[at + 1] : throw new ArgumentException($"{ConfigFlag} needs a file path.");
        JsonNode? root;
        try
        {
            root = JsonNode.Parse(File.ReadAllText(path), documentOptions: new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or JsonException)
        {
            throw new ArgumentException($"{ConfigFlag} {path}: {ex.Message}");
        }

        if (root is not JsonObject top || Find(top, "CircuitRelay") is not JsonObject relay)
        {
            throw new ArgumentException($"{ConfigFlag} {path}: expected an object with a \"CircuitRelay\" section.");
        }

        var given = args.Where(a => a.StartsWith("--", StringComparison.Ordinal)).Select(a => a.Split('=')[0]).ToHashSet(StringComparer.Ordinal);
        var extra = new List<string>();
        foreach ((string keyPath, JsonNode? value) in Leaves(relay, string.Empty))
        {
            Key key = Keys.FirstOrDefault(k => string.Equals(k.Path, keyPath, StringComparison.OrdinalIgnoreCase))
                ?? throw new ArgumentException($"{ConfigFlag} {path}: CircuitRelay:{keyPath} is not a setting of the node (see --print-config for the keys).");
            if (!given.Contains(key.Flag))
            {
                extra.AddRange(Tokens(key, value, path));
            }
        }

        return [.. args, .. extra];
    }

    /// <summary>The effective values of every key, read back from the parsed options, in the configuration file's shape.</summary>
    public static string Print(ParseResult parse)
    {
        var relay = new JsonObject();
        foreach (Key key in Keys)
        {
            Option? option = FindOption(parse.CommandResult.Command, key.Flag) ?? parse.RootCommandResult.Command.Options.FirstOrDefault(o => o.Name == key.Flag);
            object? value = option is null ? null : parse.GetResult(option) is { } result ? ValueOf(result) : null;
            string[] parts = key.Path.Split(':');
            JsonObject section = relay;
            foreach (string part in parts[..^1])
            {
                if (section[part] is not JsonObject inner)
                {
                    inner = new JsonObject();
                    section[part] = inner;
                }

                section = inner;
            }

            section[parts[^1]] = ToJson(key, value);
        }

        var root = new JsonObject { ["CircuitRelay"] = relay };
        return root.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
    }

    private static object? ValueOf(System.CommandLine.Parsing.SymbolResult result)
        => result is System.CommandLine.Parsing.OptionResult option ? option.GetValueOrDefault<object?>() : null;

    private static Option? FindOption(Command command, string flag) => command.Options.FirstOrDefault(o => o.Name == flag || o.Aliases.Contains(flag));

    private static JsonNode? ToJson(Key key, object? value) => (key.Kind, value) switch
    {
        (Kind.Many, null) => new JsonArray(),
        (_, null) => null,
        (Kind.Many, string[] many) => new JsonArray([.. many.Select(v => (JsonNode?)JsonValue.Create(v))]),
        (Kind.Seconds, IConvertible seconds) => JsonValue.Create(TimeSpan.FromSeconds(Convert.ToDouble(seconds, CultureInfo.InvariantCulture)).ToString("c", CultureInfo.InvariantCulture)),
        (Kind.Lower, string text) => JsonValue.Create(text.Length == 0 ? text : char.ToUpperInvariant(text[0]) + text[1..]),
        (Kind.Role, string role) => JsonValue.Create(role switch { "public" => "Public", "private" => "Private", _ => "Unknown" }),
        (Kind.Flag, bool flag) => JsonValue.Create(flag),
        (_, string text) => JsonValue.Create(text),
        (_, int number) => JsonValue.Create(number),
        (_, long number) => JsonValue.Create(number),
        (_, double number) => JsonValue.Create(number),
        (_, bool flag) => JsonValue.Create(flag),
        _ => JsonValue.Create(Convert.ToString(value, CultureInfo.InvariantCulture)),
    };

    private static IEnumerable<string> Tokens(Key key, JsonNode? value, string path)
    {
        string Scalar(JsonNode? node) => node is JsonValue v && v.TryGetValue(out JsonElement e) && e.ValueKind is not (JsonValueKind.Object or JsonValueKind.Array)
            ? e.ValueKind == JsonValueKind.String ? e.GetString()! : e.GetRawText()
            : throw new ArgumentException($"{ConfigFlag} {path}: CircuitRelay:{key.Path} must be a single value.");

        switch (key.Kind)
        {
            case Kind.Many:
                if (value is not JsonArray array)
                {
                    throw new ArgumentException($"{ConfigFlag} {path}: CircuitRelay:{key.Path} must be an array.");
                }

                foreach (JsonNode? element in array)
                {
                    yield return key.Flag;
                    yield return Scalar(element);
                }

                break;
            case Kind.Flag:
                if (value is JsonValue flag && flag.TryGetValue(out bool on))
                {
                    if (on)
                    {
                        yield return key.Flag;
                    }

                    break;
                }

                throw new ArgumentException($"{ConfigFlag} {path}: CircuitRelay:{key.Path} must be true or false.");
            case Kind.Seconds:
                string text = Scalar(value);
                double seconds = TimeSpan.TryParse(text, CultureInfo.InvariantCulture, out TimeSpan span) && text.Contains(':', StringComparison.Ordinal)
                    ? span.TotalSeconds
                    : double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double number) ? number : throw new ArgumentException($"{ConfigFlag} {path}: CircuitRelay:{key.Path} '{text}' is not a duration (\"00:02:00\" or seconds).");
                yield return key.Flag;
                yield return seconds.ToString("R", CultureInfo.InvariantCulture);
                break;
            case Kind.Lower:
                yield return key.Flag;
                yield return Scalar(value).ToLowerInvariant();
                break;
            case Kind.Role:
                yield return key.Flag;
                yield return Scalar(value).ToLowerInvariant() switch { "unknown" or "auto" => "auto", string role => role };
                break;
            default:
                yield return key.Flag;
                yield return Scalar(value);
                break;
        }
    }

    private static IEnumerable<(string Path, JsonNode? Value)> Leaves(JsonObject section, string prefix)
    {
        foreach ((string name, JsonNode? value) in section)
        {
            string path = prefix.Length == 0 ? name : prefix + ":" + name;
            if (value is JsonObject inner)
            {
                foreach ((string Path, JsonNode? Value) leaf in Leaves(inner, path))
                {
                    yield return leaf;
                }
            }
            else
            {
                yield return (path, value);
            }
        }
    }

    private static JsonNode? Find(JsonObject node, string name)
        => node.FirstOrDefault(p => string.Equals(p.Key, name, StringComparison.OrdinalIgnoreCase)).Value;
}
