"""Operating on the log: the dead-letter topic (written by every consumer, read back and redriven by
operators) and following a request through the log by its correlation id."""
