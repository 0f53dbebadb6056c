"""One log format for everything a long-running agentflux command runs.

``configure_logging`` sets the root logger once: ``HH:MM:SS LEVEL logger: message``.
Libraries log through it instead of their own formats: uvicorn is started
with ``log_config=None`` (``serve_asgi``), Quix Streams with ``loglevel=None``
(``agentflux.streams.embedded``), librdkafka through ``agentflux.kafka``. What
they print that says nothing to an agentflux user is kept quieter here:
uvicorn's access lines (one per request) at WARNING and above, and Apache
Beam's import-time notes (``Failed to import GCSFileSystem`` on every Flink
run) at ERROR and above.
"""

from __future__ import annotations

import logging
from typing import Any

FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
_QUIETER = {"uvicorn.access": logging.WARNING, "apache_beam": logging.ERROR}


def configure_logging(level: str) -> None:
    logging.basicConfig(level=level.upper(), format=FORMAT, datefmt="%H:%M:%S")
    for name, floor in _QUIETER.items():
        logger = logging.getLogger(name)
        logger.setLevel(max(floor, logging.getLogger().level))


async def serve_asgi(app: Any, *, host: str, port: int, log_level: str) -> None:
    """Serve an ASGI app with uvicorn, logging in the format above (not uvicorn's own)."""
    import uvicorn

    config = uvicorn.Config(app, host=host, port=port, log_level=log_level.lower(), log_config=None, lifespan="on")
    await uvicorn.Server(config).serve()
