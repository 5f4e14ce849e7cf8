using System.CommandLine;
using CircuitRelay.AutoNat;

namespace CircuitRelay.Node;

/// <summary>
/// <c>autonat-probe &lt;server&gt;</c>: one AutoNAT probe (v1 or v2) against a server, from a node listening for the
/// dial-back, and one line with the answer: <c>autonat v1 &lt;status&gt; &lt;address|-&gt; &lt;text&gt;</c> or
/// <c>autonat v2 &lt;outcome&gt; &lt;address|-&gt; &lt;reason&gt;</c>.
/// </summary>
internal static class AutoNatProbeCommand
{
    public static Command Create(Option<string?> identity, Option<bool> verbose)
    {
        var server = new Argument<string>("server") { Description = "The AutoNAT server's address, ending in /p2p/<id>." };
        var version = new Option<int>("--autonat-version") { Description = "1 (the server dials our addresses on our observed IP) or 2 (it tests one address).", DefaultValueFactory = _ => 2 };
        version.AcceptOnlyFromAmong("1", "2");
        var listen = new Option<string[]>("--listen") { Description = "Where to listen for the dial-back (repeatable).", DefaultValueFactory = _ => ["/ip4/127.0.0.1/tcp/0"], AllowMultipleArgumentsPerToken = true };
        var address = new Option<string[]>("--address") { Description = "An address to ask about, in priority order (repeatable). Default: our listen addresses." };
        var timeout = new Option<int>("--timeout") { Description = "Overall timeout in seconds.", DefaultValueFactory = _ => 60 };
        var command = new Command("autonat-probe", "Ask an AutoNAT server (v1 or v2) whether it can reach us, once, and print its answer.") { server, version, listen, address, timeout };
        command.SetAction(async (parse, cancellationToken) =>
        {
            using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            deadline.CancelAfter(TimeSpan.FromSeconds(parse.GetValue(timeout)));
            List<Multiaddr> asked;
            Multiaddr target;
            try
            {
                target = Multiaddr.Parse(parse.GetValue(server)!);
                _ = target.GetPeerId() ?? throw new ArgumentException("The server address must end in /p2p/<id>.");
                asked = [.. (parse.GetValue(address) ?? []).Select(Multiaddr.Parse)];
            }
            catch (Exception ex) when (ex is ArgumentException or FormatException)
            {
                Output.Line($"error invalid configuration: {ex.Message}");
                return 2;
            }

            try
            {
                await using NodeRuntime node = await NodeRuntime.StartAsync(parse.GetValue(identity), parse.GetValue(listen) ?? [], parse.GetValue(verbose), deadline.Token);
                PeerId peer = target.GetPeerId()!;
                if (asked.Count == 0)
                {
                    asked = [.. node.Host.ListenAddresses];
                }

                await node.Host.DialAsync(target, cancellationToken: deadline.Token);
                if (parse.GetValue(version) == 1)
                {
                    AutoNatProbeResult result = await new AutoNatClient(node.Host, TimeProvider.System).ProbeAsync(peer, asked, deadline.Token);
                    Output.Line($"autonat v1 {Tag(result.Status)} {result.Address?.ToString() ?? "-"} {result.StatusText}");
                }
                else
                {
                    await using var client = new AutoNatV2Client(node.Host, node.LoggerFactory, TimeProvider.System);
                    client.Start();
                    AutoNatV2Result result = await client.ProbeAsync(peer, asked, deadline.Token);
                    Output.Line($"autonat v2 {result.Outcome.ToString().ToLowerInvariant()} {result.Address?.ToString() ?? "-"} {result.Reason}");
                }

                return 0;
            }
            catch (Exception ex)
            {
                Output.Line($"error {(ex is OperationCanceledException ? "timed out" : CommandHelpers.Describe(ex))}");
                return 1;
            }
        });
        return command;
    }

    private static string Tag(AutoNatStatus status) => status switch
    {
        AutoNatStatus.Ok => "ok",
        AutoNatStatus.DialError => "dial_error",
        AutoNatStatus.DialRefused => "dial_refused",
        AutoNatStatus.BadRequest => "bad_request",
        _ => "internal_error",
    };
}
