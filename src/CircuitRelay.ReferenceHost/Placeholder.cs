namespace CircuitRelay.ReferenceHost;
