"""Example systems built on agentflux."""
