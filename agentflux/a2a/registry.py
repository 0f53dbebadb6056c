"""The card registry: which live agents offer which skills.

Agents publish their cards to ``agent.cards.v1`` (compacted, keyed by agent
name, see ``CardPublisher``). Every record carries two headers:
``agentflux_instance`` (the publishing process) and ``agentflux_expires`` (epoch
milliseconds after which that process counts as gone unless it publishes
again). An agent is **live** while at least one of its instances has not
expired; a graceful stop publishes an already expired record, a crash simply
stops the heartbeat. A tombstone removes the agent.

``CardRegistry`` reads the topic from its start and keeps following it, so an
agent that starts later is found without restarting anyone. With a
``TrustPolicy`` it refuses cards that are unsigned or whose signature does not
verify, and ``refused`` says why. Remote HTTP agents join by card URL
(``add_remote``); they are live while registered.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from a2a.types import AgentCard

from agentflux.a2a.cards import card_from_json
from agentflux.a2a.signing import TrustPolicy, UntrustedCard
from agentflux.contract.topics import CARD_EXPIRES_HEADER, CARD_INSTANCE_HEADER, CARDS_TOPIC, reserved_specs
from agentflux.transport.base import Record, Tail, TopicPartition, Transport

log = logging.getLogger("agentflux.a2a")

INSTANCE_HEADER = CARD_INSTANCE_HEADER
EXPIRES_HEADER = CARD_EXPIRES_HEADER


@dataclass
class Listing:
    """An agent the registry knows: its latest card, and when each of its instances expires."""

    card: AgentCard
    instances: dict[str, int] = field(default_factory=dict)
    url: str | None = None  # set for a remote agent registered by card URL

    def live(self, now_ms: int) -> bool:
        return self.url is not None or any(expires > now_ms for expires in self.instances.values())

    @property
    def skills(self) -> list[str]:
        return [s.id for s in self.card.skills]


class CardRegistry:
    def __init__(
        self, transport: Transport, *, trust: TrustPolicy | None = None, clock: Callable[[], float] = time.time
    ) -> None:
        self._transport = transport
        self.trust = trust
        self._clock = clock
        self._agents: dict[str, Listing] = {}
        self._remote: dict[str, Listing] = {}
        self.refused: dict[str, str] = {}
        self._tail: Tail | None = None
        self._reader: asyncio.Task[None] | None = None
        self._changed = asyncio.Event()

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

    async def start(self, timeout: float = 30.0) -> None:
        """Read every card published so far, then keep following the topic. Idempotent."""
        if self._tail is not None:
            return
        await self._transport.ensure_topics([s for s in reserved_specs() if s.name == CARDS_TOPIC])
        self._tail = tail = self._transport.tail()
        partitions = [TopicPartition(CARDS_TOPIC, p) for p in range(await tail.partition_count(CARDS_TOPIC))]
        start = await tail.offsets_at(partitions, 0)
        end = await tail.end_offsets(partitions)
        for record in await tail.read_range(start, end, timeout):
            self._apply(record)
        await tail.assign(end)
        self._reader = asyncio.create_task(self._read(tail), name="agentflux-a2a-cards")

    async def _read(self, tail: Tail) -> None:
        while True:
            for record in await tail.poll(100, 0.2):
                self._apply(record)

    def _apply(self, record: Record) -> None:
        name = (record.key or b"").decode("utf-8", "replace")
        if record.value is None:
            self._agents.pop(name, None)
            self._signal()
            return
        headers = {k: (v or b"").decode("utf-8", "replace") for k, v in record.headers}
        try:
            card = card_from_json(record.value)
            self.check(card)
        except ValueError as exc:
            log.warning("ignoring record %s on %s: %s", record.ref, CARDS_TOPIC, exc)
            return
        except UntrustedCard as exc:
            self.refused[name] = exc.reason
            self._agents.pop(name, None)
            log.warning("%s", exc)
            self._signal()
            return
        self.refused.pop(name, None)
        expires = int(headers.get(EXPIRES_HEADER) or 0) or record.timestamp_ms + 30_000
        self.add(card, headers.get(INSTANCE_HEADER) or headers.get("ce_source", "?"), expires)

    def _signal(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    def check(self, card: AgentCard) -> None:
        """Raise ``UntrustedCard`` when a trust policy is set and ``card`` does not satisfy it."""
        if self.trust is not None:
            self.trust.verify(card)

    def add(self, card: AgentCard, instance: str, expires_ms: int) -> None:
        """Record that ``instance`` serves ``card`` until ``expires_ms`` (the publisher calls it for its own)."""
        listing = self._agents.get(card.name)
        if listing is None:
            listing = self._agents[card.name] = Listing(card)
        listing.card = card
        listing.instances[instance] = expires_ms
        self._signal()

    async def add_remote(self, url: str, card: AgentCard) -> None:
        """Register a remote HTTP agent's (already fetched) card; refused when untrusted."""
        try:
            self.check(card)
        except UntrustedCard as exc:
            self.refused[card.name] = exc.reason
            raise
        self._remote[card.name] = Listing(card, url=url)
        self._signal()

    def card(self, name: str) -> AgentCard | None:
        """The card of the live agent ``name`` on Kafka (the gateway's ``CardSource``)."""
        listing = self._agents.get(name)
        return listing.card if listing is not None and listing.live(self._now_ms()) else None

    def names(self) -> list[str]:
        now = self._now_ms()
        return sorted(n for n, listing in self._agents.items() if listing.live(now))

    def listings(self) -> dict[str, Listing]:
        """Every agent known, live or not, Kafka and remote."""
        return {**self._agents, **self._remote}

    def offering(self, skill: str) -> list[Listing]:
        """Live Kafka agents offering ``skill`` first, then remote ones."""
        now = self._now_ms()
        local = [x for x in self._agents.values() if skill in x.skills and x.live(now)]
        return local + [x for x in self._remote.values() if skill in x.skills]

    def is_live(self, name: str) -> bool:
        listing = self._agents.get(name)
        return listing is not None and listing.live(self._now_ms())

    async def wait_for(self, skill: str, timeout: float = 30.0) -> Listing:
        """Wait until a live agent offers ``skill``."""
        async with asyncio.timeout(timeout):
            while not (found := self.offering(skill)):
                await self._changed.wait()
        return found[0]

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)
            self._reader = None
        if self._tail is not None:
            await self._tail.close()
            self._tail = None
