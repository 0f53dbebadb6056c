"""Example MCP servers, each a standalone process on the official ``mcp`` SDK.

Run one with ``python -m examples.mcp_servers.<name>``: it speaks MCP over
stdio by default, or streamable HTTP on ``http://127.0.0.1:PORT/mcp`` with
``--http PORT``.

* ``scraper``: ``scrape_product(url)`` reads a competitor product page.
* ``inventory_db``: stock and prices in SQLite, with idempotent writes.
* ``notifier``: an idempotent customer-notification outbox in SQLite.
* ``fixture_site``: a local HTTP site of competitor pages for the scraper
  (plain HTTP, not MCP).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from mcp.server import MCPServer

FIXTURES = Path(__file__).with_name("fixtures")


def transport_parser(description: str) -> argparse.ArgumentParser:
    """An argument parser with the ``--http PORT`` option every server shares."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        "--http", type=int, metavar="PORT", help="serve streamable HTTP on 127.0.0.1:PORT/mcp instead of stdio"
    )
    return parser


def serve(server: MCPServer[Any], http_port: int | None) -> None:
    """Run ``server`` over stdio, or over streamable HTTP on localhost when a port is given."""
    if http_port is None:
        server.run()
    else:
        server.run("streamable-http", host="127.0.0.1", port=http_port)
