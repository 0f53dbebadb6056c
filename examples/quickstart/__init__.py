"""The quickstart: two agents over Kafka. See ``app.py`` and ``agentflux demo quickstart``."""

from examples.quickstart.app import app

__all__ = ["app"]
