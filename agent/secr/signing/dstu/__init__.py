"""DSTU 4145 / GOST 34.311 primitives (pure, no I/O)."""
