"""Returns through the facade: submit, read, list, cancel, decide."""
