"""Patterns built on the runtime: orchestrator-worker delegation from outside an agent."""

from agentflux.patterns.client import AgentClient

__all__ = ["AgentClient"]
