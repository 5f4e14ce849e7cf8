using BenchmarkDotNet.Running;

// dotnet run -c Release --project tests/CircuitRelay.Benchmarks -- --filter '*'
BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
