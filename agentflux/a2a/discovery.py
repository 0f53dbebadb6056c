"""Discovery over Kafka for running agents: publish cards with a heartbeat, delegate by registry.

``Discovery`` is a runner plugin (``AppRunner(..., plugins=[Discovery()])``;
``agentflux run`` adds it when the a2a extra is installed). Once the agents
run it

* publishes the card of each agent with skills to ``agent.cards.v1``, keyed
  by ``{app}.{agent}``, and again every ``interval`` seconds, each card valid
  for ``ttl`` seconds and signed anew when a signer is set
  (``CardPublisher``); on stop it publishes the cards as expired;
* starts a ``CardRegistry`` and registers the remote agents of ``remote_urls``;
* makes ``ctx.delegate`` registry-aware (it plugs a ``RegistryRouter`` into the
  runner's requester): a skill a
  live agent on Kafka offers goes over Kafka; else a skill a remote HTTP agent
  offers runs there; anything else goes over Kafka as before, so a skill whose
  agents are not live right now (starting, restarting, crashed) is waited for
  up to the delegation's timeout rather than failed: a fault of the worker
  stays the worker's. Only a skill no agent has ever offered (its request topic
  does not exist) fails at once with ``UnknownSkill``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from a2a.types import AgentCard

from agentflux.a2a.cards import build_card, card_key, card_to_json, with_liveness
from agentflux.a2a.registry import EXPIRES_HEADER, INSTANCE_HEADER, CardRegistry
from agentflux.a2a.remote import RemoteSkills, fetch_card
from agentflux.a2a.signing import TrustPolicy, signer_from_env, trust_from_env
from agentflux.contract.codec import encode
from agentflux.contract.envelope import Envelope
from agentflux.contract.errors import ConfigError, TopicNameError
from agentflux.contract.topics import CARDS_TOPIC, validate_skill_id
from agentflux.runtime.tasks.requester import Route
from agentflux.transport.base import Transport

if TYPE_CHECKING:
    from agentflux.runtime.runner import AppRunner

log = logging.getLogger("agentflux.a2a")
CARD_TYPE = "agent.card"


class CardPublisher:
    """Publishes cards now and every ``interval`` seconds; ``stop`` publishes them expired.

    Each record is keyed by ``{app}.{agent}`` and its card carries a fresh
    liveness extension (app, agent, this ``instance``, and an expiry ``ttl``
    seconds away), so with a ``signer`` each heartbeat is signed anew and the
    signature covers the expiry. The headers ``agentflux_instance`` and
    ``agentflux_expires`` repeat the extension's values for readers that do not
    parse cards. ``cards`` are the declared cards (unsigned); ``app`` names the
    app they belong to.
    """

    def __init__(
        self,
        transport: Transport,
        cards: Sequence[AgentCard],
        *,
        app: str,
        interval: float = 10.0,
        ttl: float | None = None,
        instance: str | None = None,
        signer: Callable[[AgentCard], AgentCard] | None = None,
        registry: CardRegistry | None = None,
    ) -> None:
        self._transport = transport
        self.app = _app_name(app)
        self.cards = list(cards)
        self.interval = interval
        self.ttl = ttl if ttl is not None else 3 * interval
        self.instance = instance or f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        self._signer = signer
        self._registry = registry
        self._loop: asyncio.Task[None] | None = None

    def published(self, card: AgentCard, expires_ms: int) -> AgentCard:
        """``card`` as this publisher puts it on the topic: with its liveness extension, signed if it signs."""
        live = with_liveness(card, app=self.app, instance=self.instance, expires_ms=expires_ms)
        return self._signer(live) if self._signer else live

    async def publish(self, *, expires_ms: int | None = None) -> None:
        expires = expires_ms if expires_ms is not None else int((time.time() + self.ttl) * 1000)
        for declared in self.cards:
            card = self.published(declared, expires)
            envelope = Envelope.new(source=self.instance, type=CARD_TYPE)
            headers = [
                *envelope.to_headers(),
                (INSTANCE_HEADER, self.instance.encode()),
                (EXPIRES_HEADER, str(expires).encode()),
            ]
            key = card_key(self.app, card.name)
            await self._transport.publish(CARDS_TOPIC, encode(card_to_json(card)), key=key.encode(), headers=headers)
            if self._registry is not None:
                self._registry.add(card, self.instance, expires, app=self.app)

    async def start(self) -> None:
        await self.publish()
        self._loop = asyncio.create_task(self._beat(), name="agentflux-card-heartbeat")

    async def _beat(self) -> None:
        watch = self._transport.watch
        while True:
            await asyncio.sleep(self.interval)
            if watch.lost:  # no stale card queued through an outage: beat as soon as the cluster is back
                await watch.wait_back()
            try:
                await self.publish()
            except Exception as exc:  # the next beat tries again; the cards expire only after ttl
                level = logging.DEBUG if self._transport.watch.lost else logging.WARNING
                log.log(level, "publishing the agent cards failed (the next heartbeat tries again): %s", exc)

    async def stop(self) -> None:
        """Stop the heartbeat and publish the cards (signed, if signing) with an expiry of now."""
        if self._loop is not None:
            self._loop.cancel()
            await asyncio.gather(self._loop, return_exceptions=True)
            self._loop = None
            with contextlib.suppress(Exception):
                await self.publish(expires_ms=int(time.time() * 1000))


def _app_name(app: str) -> str:
    """``app`` if it is lowercase words joined by hyphens (as ``AgentApp`` requires): the key's dot is unambiguous."""
    try:
        return validate_skill_id(app)
    except TopicNameError:
        raise ConfigError(f"invalid app name {app!r}: expected lowercase words joined by hyphens") from None


class RegistryRouter:
    """Routes a delegation to a skill that only a remote HTTP agent offers (see the module docstring).

    Plugged into the runner's requester (``Requester.plug``): a skill live on
    Kafka, or not live anywhere, is left to the Kafka topics, where the
    request waits for a worker.
    """

    def __init__(self, registry: CardRegistry) -> None:
        self.registry = registry
        self._remote: RemoteSkills | None = None

    def route(self, skill: str) -> Route | None:
        offering = self.registry.offering(skill)
        if not offering or offering[0].url is None:
            return None
        card = offering[0].card

        async def remote(payload: object, envelope: Envelope, timeout: float) -> Any:
            if self._remote is None:
                self._remote = RemoteSkills()
            return await self._remote.delegate(
                card, skill, payload, correlation_id=envelope.correlation_id, timeout=timeout
            )

        return remote

    async def close(self) -> None:
        if self._remote is not None:
            await self._remote.close()


class Discovery:
    """The runner plugin (see the module docstring). One per runner."""

    def __init__(
        self,
        *,
        interval: float = 10.0,
        ttl: float | None = None,
        remote_urls: Iterable[str] = (),
        trust: TrustPolicy | None = None,
        signer: Callable[[AgentCard], AgentCard] | None = None,
        gateway_url: str | None = None,
    ) -> None:
        self.interval, self.ttl = interval, ttl
        self.remote_urls = list(remote_urls)
        self.trust = trust if trust is not None else trust_from_env()
        self.signer = signer if signer is not None else signer_from_env()
        self.gateway_url = gateway_url or os.environ.get("AGENTFLUX_GATEWAY_URL")
        self.registry: CardRegistry | None = None
        self.publisher: CardPublisher | None = None

    async def start(self, runner: AppRunner) -> None:
        remote = [(url, await fetch_card(url, trust=self.trust)) for url in self.remote_urls]  # refused: fail now
        transport = runner.transport
        self.registry = registry = CardRegistry(transport, trust=self.trust)
        await registry.start()
        for url, card in remote:
            await registry.add_remote(url, card)
        cards = [build_card(a, gateway_url=self.gateway_url) for a in runner.agents if a.skills]
        self.publisher = CardPublisher(
            transport,
            cards,
            app=runner.app.name,
            interval=self.interval,
            ttl=self.ttl,
            signer=self.signer,
            registry=registry,
        )
        await self.publisher.start()
        if runner.services.requester is not None:
            runner.services.requester.plug(RegistryRouter(registry))

    async def stop(self) -> None:
        if self.publisher is not None:
            await self.publisher.stop()
        if self.registry is not None:
            await self.registry.close()
