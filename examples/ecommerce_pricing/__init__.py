"""The e-commerce dynamic pricing system: four agents over Kafka, with MCP tools and A2A delegation.

See ``app.py`` for the agents, ``rules.py`` for the decisions, ``demo.py`` and
``agentflux demo pricing`` for the end-to-end run, and docs/pricing-walkthrough.md.
"""

from examples.ecommerce_pricing.app import app, build_app

__all__ = ["app", "build_app"]
