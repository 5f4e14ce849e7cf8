namespace CircuitRelay.InMemory;
