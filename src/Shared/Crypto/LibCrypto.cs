using System.Reflection;
using System.Runtime.InteropServices;

namespace CircuitRelay.Crypto;

/// <summary>
/// The few OpenSSL 3 libcrypto entry points used for Ed25519 and X25519. Every pointer is an
/// opaque OpenSSL object; callers free what they create in <c>finally</c> blocks.
/// </summary>
/// <remarks>
/// The library is bound as <c>libcrypto.so.3</c>. A resolver registered for this assembly falls back
/// to <c>libcrypto</c> (the platform's default naming) when that name does not load.
/// </remarks>
internal static unsafe partial class LibCrypto
{
    internal const string LibraryName = "libcrypto.so.3";
    private const string FallbackLibraryName = "libcrypto";

    internal const int EvpPkeyX25519 = 1034;
    internal const int EvpPkeyEd25519 = 1087;

    static LibCrypto()
    {
        try
        {
            NativeLibrary.SetDllImportResolver(typeof(LibCrypto).Assembly, Resolve);
        }
        catch (InvalidOperationException)
        {
            // Another resolver already serves this assembly; default probing of LibraryName still applies.
        }
    }

    private static nint Resolve(string libraryName, Assembly assembly, DllImportSearchPath? searchPath)
    {
        if (libraryName != LibraryName)
        {
            return 0;
        }

        if (NativeLibrary.TryLoad(LibraryName, assembly, searchPath, out nint handle)
            || NativeLibrary.TryLoad(FallbackLibraryName, assembly, searchPath, out handle))
        {
            return handle;
        }

        return 0;
    }

    [LibraryImport(LibraryName)]
    internal static partial nint EVP_PKEY_new_raw_private_key(int type, nint engine, byte* key, nuint keyLength);

    [LibraryImport(LibraryName)]
    internal static partial nint EVP_PKEY_new_raw_public_key(int type, nint engine, byte* key, nuint keyLength);

    [LibraryImport(LibraryName)]
    internal static partial int EVP_PKEY_get_raw_public_key(nint pkey, byte* publicKey, nuint* length);

    [LibraryImport(LibraryName)]
    internal static partial void EVP_PKEY_free(nint pkey);

    [LibraryImport(LibraryName)]
    internal static partial nint EVP_MD_CTX_new();

    [LibraryImport(LibraryName)]
    internal static partial void EVP_MD_CTX_free(nint context);

    [LibraryImport(LibraryName)]
    internal static partial int EVP_DigestSignInit(nint context, nint pkeyContext, nint digest, nint engine, nint pkey);

    [LibraryImport(LibraryName)]
    internal static partial int EVP_DigestSign(nint context, byte* signature, nuint* signatureLength, byte* data, nuint dataLength);

    [LibraryImport(LibraryName)]
    internal static partial int EVP_DigestVerifyInit(nint context, nint pkeyContext, nint digest, nint engine, nint pkey);

    [LibraryImport(LibraryName)]
    internal static partial int EVP_DigestVerify(nint context, byte* signature, nuint signatureLength, byte* data, nuint dataLength);

    [LibraryImport(LibraryName)]
    internal static partial nint EVP_PKEY_CTX_new(nint pkey, nint engine);

    [LibraryImport(LibraryName)]
    internal static partial void EVP_PKEY_CTX_free(nint context);

    [LibraryImport(LibraryName)]
    internal static partial int EVP_PKEY_derive_init(nint context);

    [LibraryImport(LibraryName)]
    internal static partial int EVP_PKEY_derive_set_peer(nint context, nint peer);

    [LibraryImport(LibraryName)]
    internal static partial int EVP_PKEY_derive(nint context, byte* key, nuint* keyLength);

    [LibraryImport(LibraryName)]
    internal static partial CULong ERR_get_error();

    [LibraryImport(LibraryName)]
    internal static partial void ERR_error_string_n(CULong error, byte* buffer, nuint length);

    [LibraryImport(LibraryName)]
    internal static partial void ERR_clear_error();

    /// <summary>
    /// Builds an exception for a failed libcrypto call from the first queued OpenSSL error, and empties
    /// the thread's error queue so that nothing is left for the next caller (including .NET's own
    /// OpenSSL-backed algorithms) to trip over.
    /// </summary>
    internal static System.Security.Cryptography.CryptographicException CreateException(string function)
    {
        CULong error = ERR_get_error();
        string detail = string.Empty;
        if (error.Value != 0)
        {
            byte* buffer = stackalloc byte[256];
            ERR_error_string_n(error, buffer, 256);
            detail = ": " + Marshal.PtrToStringUTF8((nint)buffer);
        }

        ERR_clear_error();
        return new System.Security.Cryptography.CryptographicException($"OpenSSL {function} failed{detail}.");
    }
}
