"""``agentflux cards list | show NAME`` and ``agentflux gateway``: A2A cards and the HTTP gateway.

Both read the live cards on ``agent.cards.v1`` by default; ``--app module:app``
takes them from an app's declarations instead. Cards on Kafka are keyed by
``{app}.{agent}``: ``cards list`` shows an agent by its name, or qualified where
several apps have an agent of that name, and ``cards show`` takes either form.
Needs the ``a2a`` extra.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from agentflux.cli.loading import load_object
from agentflux.cli.logs import LogFormat
from agentflux.cli.options import Bootstrap, with_transport
from agentflux.contract.errors import ConfigError
from agentflux.runtime.declarations import AgentApp
from agentflux.transport.kafka import KafkaTransport

cards = typer.Typer(no_args_is_help=True, help="Show A2A Agent Cards: live ones from Kafka, or an app's.")
_out = Console()
_err = Console(stderr=True)
AppRef = Annotated[str | None, typer.Option("--app", help="Cards from this app's declarations (module:attribute)")]


def _a2a() -> Any:
    try:
        import agentflux.a2a as a2a
    except ImportError as exc:
        raise ConfigError(f"{exc}") from exc
    return a2a


def _declared(app_ref: str, bootstrap: str | None) -> list[Any]:
    app = load_object(app_ref, AgentApp)
    return list(_a2a().build_cards(app, bootstrap_servers=bootstrap or app.bootstrap_servers))


def _live(bootstrap: str | None) -> Any:
    """A ``CardRegistry`` that has read every card on ``agent.cards.v1`` (and stopped following it)."""
    a2a = _a2a()

    async def read(transport: KafkaTransport) -> Any:
        registry = a2a.CardRegistry(transport)
        try:
            await registry.start()
            return registry
        finally:
            await registry.close()

    with _err.status("reading agent.cards.v1 ..."):
        return asyncio.run(with_transport(bootstrap, read))


@cards.command("list")
def list_(app: AppRef = None, bootstrap: Bootstrap = None) -> None:
    """List agents and their skills (live status and heartbeat expiry for cards from Kafka)."""
    table = Table("agent", "skills", "status", "interfaces")
    if app:
        for card in _declared(app, bootstrap):
            table.add_row(card.name, ", ".join(s.id for s in card.skills), "declared", _bindings(card))
    else:
        from agentflux.a2a.registry import display_names

        registry = _live(bootstrap)
        listings = registry.listings()
        now = int(time.time() * 1000)
        for key, name in sorted(display_names(listings).items(), key=lambda item: item[1]):
            listing = listings[key]
            expires = max(listing.instances.values(), default=0)
            status = "live" if listing.live(now) else f"gone {(now - expires) / 1000:.0f}s"
            table.add_row(name, ", ".join(listing.skills), status, _bindings(listing.card))
        for key, reason in registry.refused.items():
            table.add_row(key, "", f"refused: {reason}", "")
    _out.print(table)


def _bindings(card: Any) -> str:
    return ", ".join(i.protocol_binding for i in card.supported_interfaces)


@cards.command()
def show(
    name: Annotated[str, typer.Argument(help="The agent: its name, or {app}.{agent}")],
    app: AppRef = None,
    bootstrap: Bootstrap = None,
) -> None:
    """Print one agent's card as JSON (from Kafka: of several apps' agents of that name, the latest heard)."""
    from agentflux.a2a.cards import card_to_json

    if app:
        declared = load_object(app, AgentApp).name
        found = {c.name: c for c in _declared(app, bootstrap)}
        card = found.get(name.removeprefix(f"{declared}."))
        known = sorted(found)
    else:
        registry = _live(bootstrap)
        listing = registry.lookup(name, live=False)
        card = listing.card if listing is not None else None
        known = sorted(registry.listings())
    if card is None:
        raise ConfigError(f"no card for agent {name!r}; known: {known}")
    _out.print_json(json.dumps(card_to_json(card)))


def gateway(
    app_ref: Annotated[str | None, typer.Argument(help="Serve this app's agents (default: every live agent)")] = None,
    host: Annotated[str, typer.Option(help="Interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on", min=1, max=65535)] = 8080,
    public_url: Annotated[str | None, typer.Option(help="Base URL clients use (default http://HOST:PORT)")] = None,
    bootstrap: Bootstrap = None,
    log_level: Annotated[str, typer.Option(envvar="AGENTFLUX_LOG_LEVEL")] = "info",
    log_format: LogFormat = "text",
) -> None:
    """Serve agents over A2A (JSON-RPC and HTTP+JSON) at http://HOST:PORT/agents/{name}."""
    from agentflux.a2a.signing import signer_from_env, trust_from_env
    from agentflux.cli.logs import configure_logging, serve_asgi

    a2a = _a2a()
    configure_logging(log_level, log_format)

    async def serve(transport: KafkaTransport) -> None:
        registry = None
        if app_ref:
            source: Any = a2a.AppCards(load_object(app_ref, AgentApp))
        else:
            source = registry = a2a.CardRegistry(transport, trust=trust_from_env())
            await registry.start()
        url = public_url or f"http://{host}:{port}"
        servers = transport.settings.bootstrap_servers
        gw = a2a.Gateway(transport, source, public_url=url, bootstrap_servers=servers, signer=signer_from_env())
        _err.print(f"agentflux gateway: serving {source.names()} at {url}/agents/{{name}}")
        try:
            await serve_asgi(gw, host=host, port=port, log_level=log_level)
        finally:
            if registry is not None:
                await registry.close()

    # connect_timeout=None: a gateway started in an outage waits for the cluster
    asyncio.run(with_transport(bootstrap, serve, connect_timeout=None))


def discovery_plugins() -> list[Any]:
    """The runner plugins ``agentflux run`` adds: A2A discovery when the a2a extra is installed."""
    try:
        from agentflux.a2a.discovery import Discovery
    except ImportError:
        return []
    return [Discovery()]


def register(app: typer.Typer) -> None:
    app.add_typer(cards, name="cards")
    app.command()(gateway)
