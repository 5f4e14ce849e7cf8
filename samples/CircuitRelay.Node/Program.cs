using System.CommandLine;
using CircuitRelay;
using CircuitRelay.Node;

// circuitrelay-node: run a node (a relay, a private node that finds relays itself, or both), a plain relay, listen
// through a relay, dial through one, or watch it all in `demo`.
var identity = new Option<string?>("--identity") { Description = "Ed25519 key file (libp2p protobuf private-key format), created on first use. Default: a fresh key per run.", Recursive = true };
var verbose = new Option<bool>("--verbose", "-v") { Description = "Debug logs (on stderr).", Recursive = true };
var exitOnStdinClose = new Option<bool>("--exit-on-stdin-close")
{
    Description = "Servers also stop when a redirected stdin reaches its end (for test harnesses: no orphan when the runner dies). Without it a server runs until SIGINT or SIGTERM whatever its stdin is.",
    Recursive = true,
};

var root = new RootCommand("CircuitRelay sample node: libp2p Circuit Relay v2 over TCP + Noise + Yamux.")
{
    identity,
    verbose,
    exitOnStdinClose,
    NodeCommand.Create(identity, verbose, exitOnStdinClose),
    RelayCommand.Create(identity, verbose, exitOnStdinClose),
    ListenCommand.Create(identity, verbose, exitOnStdinClose),
    DialCommand.Create(identity, verbose),
    PingCommand.Create(identity, verbose),
    ReserveCommand.Create(identity, verbose),
    AutoNatProbeCommand.Create(identity, verbose),
    MetricsCommand.Create(),
    DemoCommand.Create(verbose),
};

if (Array.IndexOf(args, "node") >= 0)
{
    try
    {
        // node --config <file>: the file's settings become options (the command line wins).
        args = NodeConfigFile.Expand(args);
    }
    catch (ArgumentException ex)
    {
        Output.Line($"error invalid configuration: {ex.Message}");
        return 2;
    }
}

return await root.Parse(args).InvokeAsync();
