"""(research) Parameter sweeps and walk-forward studies on a local process pool or Ray."""
