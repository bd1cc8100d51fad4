"""Returns through the facade (DESIGN §3): submit, read, list, cancel, decide."""
