using System.Net;
using CircuitRelay.Abstractions;

namespace CircuitRelay.Adverts;

/// <summary>
/// A relay's own capability advert, sealed with the host's identity and kept fresh: sealed anew when half its ttl has
/// passed, when the advertised addresses change, and (at most every <see cref="RelayAdvertOptions.LoadRefreshInterval"/>)
/// when the relay's load changed. Give <see cref="Current"/> to <see cref="AdvertGossipOptions.LocalAdvert"/>, and push
/// to every peer on <see cref="Changed"/>.
/// </summary>
/// <remarks>Thread-safe. Time comes from the injected <see cref="TimeProvider"/>.</remarks>
public sealed class RelayAdvertPublisher : IDisposable
{
    private readonly ILibp2pHost _host;
    private readonly IAddressesFeature? _addresses;
    private readonly RelayAdvertOptions _options;
    private readonly TimeProvider _time;
    private readonly Func<int>? _load;
    private readonly Lock _lock = new();
    private Multiaddr[] _sealedAddresses = [];
    private byte[]? _sealed;
    private DateTimeOffset _sealedAt;
    private uint _sealedLoad;
    private int _disposed;

    /// <summary>Creates the publisher for the relay <paramref name="host"/> runs.</summary>
    /// <param name="host">The relay's host: its identity seals, its addresses are advertised unless configured.</param>
    /// <param name="options">What to advertise.</param>
    /// <param name="timeProvider">The clock.</param>
    /// <param name="reservations">The reservations the relay holds now (its load), or <see langword="null"/> not to say.</param>
    /// <exception cref="ArgumentException">An option is invalid (the message names it).</exception>
    public RelayAdvertPublisher(ILibp2pHost host, RelayAdvertOptions options, TimeProvider timeProvider, Func<int>? reservations = null)
    {
        ArgumentNullException.ThrowIfNull(host);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(timeProvider);
        options.Validate();
        _host = host;
        _options = options;
        _time = timeProvider;
        _load = reservations;
        _addresses = host.GetFeature<IAddressesFeature>();
        if (_addresses is not null)
        {
            _addresses.AddressesChanged += OnAddressesChanged;
        }
    }

    /// <summary>Raised when the advertised addresses changed (the next <see cref="Current"/> is a new advert): push it to peers.</summary>
    public event EventHandler? Changed;

    /// <summary>
    /// The sealed advert now (sealed anew when due), or <see langword="null"/> when there is no address to advertise or
    /// the publisher is disposed.
    /// </summary>
    public ReadOnlyMemory<byte>? Current
    {
        get
        {
            if (Volatile.Read(ref _disposed) != 0)
            {
                return null;
            }

            Multiaddr[] addresses = AdvertisedAddresses();
            if (addresses.Length == 0)
            {
                return null;
            }

            DateTimeOffset now = _time.GetUtcNow();
            uint load = (uint)Math.Max(0, _load?.Invoke() ?? 0);
            lock (_lock)
            {
                TimeSpan age = now - _sealedAt;
                bool due = _sealed is null
                    || !addresses.SequenceEqual(_sealedAddresses)
                    || age >= _options.Ttl / 2
                    || (load != _sealedLoad && age >= _options.LoadRefreshInterval);
                if (due)
                {
                    var advert = new RelayAdvert(_host.Identity.PeerId, addresses, now, _options.Ttl)
                    {
                        Capacity = _options.Capacity,
                        Reservations = load,
                        Role = _options.Role,
                    };
                    _sealed = advert.Seal(_host.Identity);
                    _sealedAddresses = addresses;
                    _sealedAt = now;
                    _sealedLoad = load;
                }

                return _sealed;
            }
        }
    }

    /// <summary>Stops following the host's addresses; <see cref="Current"/> is <see langword="null"/> from now on.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0 && _addresses is not null)
        {
            _addresses.AddressesChanged -= OnAddressesChanged;
        }
    }

    /// <summary>The configured addresses, or the host's own direct, specified ones; at most <see cref="RelayAdvert.MaxAddresses"/>.</summary>
    private Multiaddr[] AdvertisedAddresses()
    {
        IEnumerable<Multiaddr> source = _options.Addresses.Count > 0
            ? _options.Addresses
            : (_addresses is null ? _host.Addresses : _addresses.ListenAddresses.Concat(_addresses.ExternalAddresses));
        return [.. source
            .Where(a => !a.IsRelayed)
            .Select(a => a.WithoutPeerId())
            .Where(a => !a.IsEmpty && !IsUnspecified(a))
            .Distinct()
            .Take(RelayAdvert.MaxAddresses)];
    }

    private static bool IsUnspecified(Multiaddr address)
        => address.TryGetIPEndPoint(out IPEndPoint? endPoint) && (endPoint.Address.Equals(IPAddress.Any) || endPoint.Address.Equals(IPAddress.IPv6Any));

    private void OnAddressesChanged(object? sender, EventArgs e)
    {
        Multiaddr[] now = AdvertisedAddresses();
        lock (_lock)
        {
            if (_sealed is null || now.SequenceEqual(_sealedAddresses))
            {
                return;
            }
        }

        Changed?.Invoke(this, EventArgs.Empty);
    }
}
