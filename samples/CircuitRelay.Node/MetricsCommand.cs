using System.CommandLine;
using System.Globalization;
using System.Net;
using System.Text.Json;

namespace CircuitRelay.Node;

/// <summary>
/// <c>metrics &lt;admin address&gt;</c>: fetches a node's JSON snapshot from its admin endpoint (<c>node --admin-listen</c>)
/// and prints it to stdout, exit 0; on any failure one <c>error &lt;reason&gt;</c> line, exit 1.
/// </summary>
internal static class MetricsCommand
{
    public static Command Create()
    {
        var address = new Argument<string>("address") { Description = "The node's admin address: http://127.0.0.1:5001/, 127.0.0.1:5001, or a full URL ending in /metrics." };
        var timeout = new Option<double>("--timeout") { Description = "Seconds to wait for the answer.", DefaultValueFactory = _ => 10 };
        var command = new Command("metrics", "Print a node's JSON snapshot (relay, AutoRelay, AutoNAT) from its admin endpoint (node --admin-listen).") { address, timeout };
        command.SetAction(async (parse, cancellationToken) =>
        {
            try
            {
                Uri url = MetricsUrl(parse.GetValue(address)!);
                double seconds = parse.GetValue(timeout);
                if (!(seconds > 0 && double.IsFinite(seconds)))
                {
                    throw new ArgumentException($"--timeout is {seconds.ToString(CultureInfo.InvariantCulture)}; it must be a positive number of seconds.");
                }

                using var http = new HttpClient(new SocketsHttpHandler { UseProxy = false, AllowAutoRedirect = false, MaxResponseHeadersLength = 64 })
                {
                    Timeout = TimeSpan.FromSeconds(seconds),
                    MaxResponseContentBufferSize = 16 * 1024 * 1024,
                };
                using HttpResponseMessage response = await http.GetAsync(url, cancellationToken);
                string body = await response.Content.ReadAsStringAsync(cancellationToken);
                if (response.StatusCode != HttpStatusCode.OK)
                {
                    throw new InvalidOperationException($"{url} answered {(int)response.StatusCode} {response.ReasonPhrase}");
                }

                using (JsonDocument.Parse(body))
                {
                    // It is JSON: print it as the node wrote it.
                }

                Output.Line(body.TrimEnd('\n'));
                return 0;
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                Output.Line($"error {Describe(ex)}");
                return 1;
            }
        });
        return command;
    }

    /// <summary>
    /// The snapshot's URL from what the user typed: <c>host:port</c> gets <c>http://</c>, and a bare root path
    /// becomes <c>/metrics</c>. Only <c>http</c>.
    /// </summary>
    public static Uri MetricsUrl(string text)
    {
        string withScheme = text.Contains("://", StringComparison.Ordinal) ? text : "http://" + text;
        if (!Uri.TryCreate(withScheme, UriKind.Absolute, out Uri? url) || url.Scheme != Uri.UriSchemeHttp || url.Port <= 0)
        {
            throw new ArgumentException($"'{text}' is not an admin address (http://<ip>:<port>/ or <ip>:<port>).");
        }

        return url.AbsolutePath == "/" ? new Uri(url, "/metrics") : url;
    }

    private static string Describe(Exception ex) => ex switch
    {
        TaskCanceledException or OperationCanceledException => "timed out",
        HttpRequestException http => http.Message,
        JsonException json => $"the answer is not JSON: {json.Message}",
        ArgumentException or InvalidOperationException => ex.Message,
        _ => $"{ex.GetType().Name}: {ex.Message}",
    };
}
