using BenchmarkDotNet.Running;
using CircuitRelay.Benchmarks;

// dotnet run -c Release --project tests/CircuitRelay.Benchmarks -- --filter '*'
// dotnet run -c Release --project tests/CircuitRelay.Benchmarks -- --book-memory
if (args is [BookMemory.Command])
{
    return BookMemory.Run(Console.Out);
}

BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
return 0;
