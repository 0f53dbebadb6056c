"""The HTTP gateway: every agent at ``{public_url}/agents/{name}``, over JSON-RPC and HTTP+JSON.

Per agent, under its base URL:

* ``GET /.well-known/agent-card.json`` (and the legacy alias ``/.well-known/agent.json``):
  its card, listing the gateway's two HTTP interfaces first, then the Kafka one;
* ``POST /``: the JSON-RPC binding (``SendMessage``, ``SendStreamingMessage``,
  ``GetTask``, ``ListTasks``, ``CancelTask``, ``SubscribeToTask``);
* ``/message:send``, ``/message:stream``, ``/tasks/{id}``, ... : the HTTP+JSON binding.

Both bindings are the SDK's routes over ``AgentRequestHandler``, so
``A2A-Version`` (1.0 only; a missing header means 0.3 and is refused with
``VersionNotSupportedError``) and the error codes and shapes are the SDK's.
``GET /agents`` lists the cards. Cards come from a ``CardSource``: an app's
declarations (``AppCards``) or the live registry on ``agent.cards.v1``.
``{name}`` is the agent name or ``{app}.{agent}``; with the registry, an agent
name that several apps use means the one heard from most recently, so a card
from the registry lists its interfaces at ``/agents/{app}.{agent}``, which
always reaches that agent. The liveness extension of a card from the registry
is not served (it describes the publishing process, not the agent).
Agents are set up on first use; when an agent's card changes, its next request
gets a handler for the new card (tasks live in Kafka, so nothing is lost). A
heartbeat that only renews the liveness extension is no change.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, Protocol

from a2a.server.routes import create_agent_card_routes, create_jsonrpc_routes, create_rest_routes
from a2a.types import AgentCard
from starlette._utils import get_route_path
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, Router
from starlette.types import Receive, Scope, Send

from agentflux.a2a.cards import (
    build_cards,
    card_key,
    card_to_json,
    interfaces,
    liveness,
    with_interfaces,
    without_liveness,
)
from agentflux.a2a.handler import AgentRequestHandler
from agentflux.a2a.recovery import TaskRecovery
from agentflux.a2a.task_log import TaskLog
from agentflux.runtime.declarations import AgentApp
from agentflux.transport.base import Transport

log = logging.getLogger("agentflux.a2a")
LEGACY_CARD_PATH = "/.well-known/agent.json"
_AGENT_PATH = re.compile(r"^/agents/(?P<name>[^/]+)(?P<rest>/.*)?$")
CardSigner = Callable[[AgentCard], AgentCard]


class CardSource(Protocol):
    """Where the gateway finds the agents it serves. Called on every request: keep it cheap.

    ``card(name)`` takes an agent name or ``{app}.{agent}``; ``names()`` lists the
    names to serve (each one ``card`` accepts).
    """

    def card(self, name: str) -> AgentCard | None: ...

    def names(self) -> list[str]: ...


class AppCards:
    """The cards of an app's agents, from their declarations (by agent name, or ``{app}.{agent}``)."""

    def __init__(self, app: AgentApp) -> None:
        self._cards = {c.name: c for c in build_cards(app, bootstrap_servers="")}
        self._prefix = card_key(app.name, "")

    def card(self, name: str) -> AgentCard | None:
        return self._cards.get(name.removeprefix(self._prefix))

    def names(self) -> list[str]:
        return list(self._cards)


class _Served:
    def __init__(self, source_card: AgentCard, served: AgentCard, handler: AgentRequestHandler, router: Router):
        self.source_card = source_card  # without liveness and signatures: what a heartbeat does not change
        self.card = served
        self.handler = handler
        self.router = router


class Gateway:
    """The gateway's ASGI app and what it owns: the task log and one handler per agent.

    ``transport`` must be started before ``start()``; the gateway does not close it.
    """

    def __init__(
        self,
        transport: Transport,
        cards: CardSource,
        *,
        public_url: str,
        bootstrap_servers: str | None = None,
        signer: CardSigner | None = None,
        source: str = "a2a-gateway",
    ) -> None:
        self.transport = transport
        self.cards = cards
        self.public_url = public_url.rstrip("/")
        self.bootstrap_servers = bootstrap_servers
        self.signer = signer
        self.source = source
        self.log = TaskLog(transport)
        self.recovery = TaskRecovery(self.log, transport, following=self._following, source=source)
        self._recovering: asyncio.Task[None] | None = None
        self._served: dict[str, _Served] = {}
        self._root = Starlette(routes=[Route("/agents", self._list, methods=["GET"])], lifespan=self._lifespan)

    @property
    def app(self) -> Gateway:
        """The ASGI app (the gateway itself), for uvicorn or any ASGI server."""
        return self

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """ASGI: ``/agents/{name}[/...]`` goes to that agent's routes, the rest to the root."""
        match = _AGENT_PATH.match(get_route_path(scope)) if scope["type"] in ("http", "websocket") else None
        if match is None:
            await self._root(scope, receive, send)
            return
        name, rest = match["name"], match["rest"] or "/"
        root = scope.get("root_path", "") + f"/agents/{name}"
        await self._dispatch({**scope, "root_path": root, "path": root + rest}, receive, send, name)

    async def start(self) -> None:
        await self.log.start()
        if self._recovering is None:
            self._recovering = asyncio.create_task(self.recovery.run(), name="agentflux-a2a-recovery")

    def _following(self, task_id: str) -> bool:
        return any(task_id in served.handler.executor.following for served in self._served.values())

    async def close(self, grace: float = 30.0) -> None:
        """Finish following the skill tasks in flight (up to ``grace`` seconds), then stop.

        A task still running after that is recorded by another replica once its
        skill task finishes (``TaskRecovery``), or by this gateway's next start.
        """
        if self._recovering is not None:
            self._recovering.cancel()
            await asyncio.gather(self._recovering, return_exceptions=True)
            self._recovering = None
        for served in self._served.values():
            await served.handler.executor.drain(grace)
        for served in self._served.values():
            await served.handler.aclose()
        self._served.clear()
        await self.log.close()

    @asynccontextmanager
    async def _lifespan(self, _app: Starlette) -> AsyncIterator[None]:
        await self.start()
        try:
            yield
        finally:
            await self.close()

    def served_card(self, card: AgentCard) -> AgentCard:
        """``card`` as this gateway serves it: its interfaces, no liveness extension, signed when a signer is set.

        The interfaces are at ``/agents/{app}.{agent}`` when the card says its app
        (a card from the registry), else at ``/agents/{agent}``.
        """
        published = liveness(card)
        path = card_key(published.app, card.name) if published is not None else card.name
        listed = interfaces(path, gateway_url=self.public_url, bootstrap_servers=self.bootstrap_servers)
        served = with_interfaces(card, listed)
        return self.signer(served) if self.signer else served

    def _agent(self, name: str) -> _Served | None:
        card = self.cards.card(name)
        if card is None:
            return None
        stable = without_liveness(card)
        served = self._served.get(name)
        if served is not None and served.source_card == stable:
            return served
        public = self.served_card(card)
        handler = AgentRequestHandler(public, self.log, self.transport, source=self.source)
        routes: list[Any] = [
            *create_agent_card_routes(public),
            *create_agent_card_routes(public, card_url=LEGACY_CARD_PATH),
            *create_jsonrpc_routes(handler, rpc_url="/"),
            *create_rest_routes(handler),
        ]
        served = _Served(stable, public, handler, Router(routes=routes))
        old, self._served[name] = self._served.get(name), served
        if old is not None:
            log.info("agent %s has a new card; serving it from now on", name)
        return served

    async def _dispatch(self, scope: Scope, receive: Receive, send: Send, name: str) -> None:
        served = self._agent(name)
        if served is None:
            response = JSONResponse({"error": f"no agent {name!r} here", "agents": self.cards.names()}, 404)
            await response(scope, receive, send)
            return
        await served.router(scope, receive, send)

    async def _list(self, request: Request) -> JSONResponse:
        cards = [self._agent(n) for n in self.cards.names()]
        return JSONResponse([card_to_json(s.card) for s in cards if s is not None])
