"""The card registry: which live agents offer which skills.

Agents publish their cards to ``agent.cards.v1`` (compacted, see
``CardPublisher``), keyed by ``{app}.{agent}``: two apps may each have an agent
of the same name without shadowing each other. Each card carries the liveness
extension (``agentflux.a2a.cards.LIVENESS_URI``): its app, agent, the publishing
process (``instance``) and ``expiresMs`` (epoch milliseconds after which that
process counts as gone unless it publishes again). An agent is **live** while at
least one of its instances has not expired; a graceful stop publishes a card
that expires at once, a crash simply stops the heartbeat. The records also carry
the headers ``agentflux_instance`` and ``agentflux_expires`` with the same values,
for readers that do not parse cards.

``CardRegistry`` reads the topic from its start and keeps following it, so an
agent that starts later is found without restarting anyone.

**Without a trust policy** every card is taken as published: liveness comes
from the extension, or from the headers for a card without one (published by
an older agentflux); a tombstone (null value) removes the listing of its key.

**With a** ``TrustPolicy`` only what is signed counts. A card must verify, carry
the liveness extension (so its instance and expiry are signed too) and be filed
under the key its extension names; the headers are ignored. Anything else
(unsigned, tampered, unparsable, misfiled, and every tombstone, which cannot be
signed) changes nothing: it is logged and noted in ``refused`` by record key,
until a card that verifies arrives for that key. A trusted agent is retired by
its own signed card with an expiry of now, or by letting it expire.

**Outages.** Time without the cluster does not count against a card: an
instance whose card would have expired while this process could not reach
Kafka (when no heartbeat could arrive) keeps, after the cluster is back, the
lifetime it had left when the cluster was lost, so its next heartbeat finds it
still live and a delegation never fails with ``UnknownSkill`` only because of
the outage.

Listings are keyed by ``{app}.{agent}``. Lookups by name (``card``,
``is_live``, ``lookup``) take that form or the agent name alone; when several
apps have a live agent of that name, the agent name means the one heard from
most recently (so it can change with every heartbeat: use the qualified form to
pin one). Remote HTTP agents join by card URL (``add_remote``); they are live
while registered.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from a2a.types import AgentCard

from agentflux.a2a.cards import card_from_json, card_key, liveness
from agentflux.a2a.signing import TrustPolicy, UntrustedCard
from agentflux.contract.errors import TransportError
from agentflux.contract.topics import CARD_EXPIRES_HEADER, CARD_INSTANCE_HEADER, CARDS_TOPIC, reserved_specs
from agentflux.transport.base import Record, TopicPartition, Transport
from agentflux.transport.follower import TopicFollower
from agentflux.transport.health import alive_at

log = logging.getLogger("agentflux.a2a")

INSTANCE_HEADER = CARD_INSTANCE_HEADER
EXPIRES_HEADER = CARD_EXPIRES_HEADER
UNSIGNED_TOMBSTONE = (
    "a tombstone (null value) cannot be signed, and this trust policy changes listings only by signed cards"
)


@dataclass
class Listing:
    """An agent the registry knows: its latest card, and when each of its instances expires."""

    card: AgentCard
    instances: dict[str, int] = field(default_factory=dict)
    url: str | None = None  # set for a remote agent registered by card URL
    app: str | None = None  # None for a remote agent, or a card published without the app
    heard: int = 0  # grows with every card heard: which listing of a name is the most recent

    def live(self, now_ms: int, outage: tuple[int, int] | None = None) -> bool:
        """True while an instance has not expired; ``outage`` (epoch ms) does not count (see the module docstring)."""
        return self.url is not None or any(alive_at(e, now_ms, outage) for e in self.instances.values())

    @property
    def skills(self) -> list[str]:
        return [s.id for s in self.card.skills]

    @property
    def key(self) -> str:
        """``{app}.{agent}``, or the agent name when the app is unknown."""
        return card_key(self.app, self.card.name) if self.app else self.card.name


def display_names(listings: Mapping[str, Listing]) -> dict[str, str]:
    """``{key: name to show}``: the agent name, or ``{app}.{agent}`` where several listings share that name."""
    counts: dict[str, int] = {}
    for listing in listings.values():
        counts[listing.card.name] = counts.get(listing.card.name, 0) + 1
    return {key: x.card.name if counts[x.card.name] == 1 else key for key, x in listings.items()}


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
        self._follower: TopicFollower | None = None
        self._changed = asyncio.Event()
        self._heard = itertools.count(1)

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

    def _live(self, listing: Listing, now_ms: int) -> bool:
        return listing.live(now_ms, self._transport.watch.last_outage())

    async def start(self, timeout: float = 30.0) -> None:
        """Read every card published so far, then keep following the topic. Idempotent."""
        if self._follower is not None:
            return
        await self._transport.ensure_topics([s for s in reserved_specs() if s.name == CARDS_TOPIC])
        self._follower = follower = TopicFollower(self._transport, self._apply_all, name="cards")
        partitions = [TopicPartition(CARDS_TOPIC, p) for p in range(await follower.tail.partition_count(CARDS_TOPIC))]
        await follower.follow(await follower.tail.offsets_at(partitions, 0))
        if not await follower.sync(partitions, timeout):
            raise TransportError(f"could not read {CARDS_TOPIC} to its end within {timeout:g}s")

    def _apply_all(self, records: list[Record]) -> None:
        for record in records:
            self._apply(record)

    def _apply(self, record: Record) -> None:
        key = (record.key or b"").decode("utf-8", "replace")
        if record.value is None:
            self._tombstone(key)
            return
        try:
            card = card_from_json(record.value)
            self.check(card)
            app, instance, expires = self._liveness(key, card, record)
        except ValueError as exc:
            if self.trust is not None:
                self._refuse(key, f"not a valid card record: {exc}")
            else:
                log.warning("ignoring record %s on %s: %s", record.ref, CARDS_TOPIC, exc)
            return
        except UntrustedCard as exc:
            self._refuse(key, exc.reason)
            return
        self.refused.pop(key, None)
        self._put(key, app, card, instance, expires)

    def _tombstone(self, key: str) -> None:
        if self.trust is not None:
            self._refuse(key, UNSIGNED_TOMBSTONE)
            return
        self._agents.pop(key, None)
        self._signal()

    def _refuse(self, key: str, reason: str) -> None:
        """Note a record the trust policy refused; the listings stay as they were."""
        self.refused[key] = reason
        log.warning("agent card record %r on %s refused: %s", key, CARDS_TOPIC, reason)
        self._signal()

    def _liveness(self, key: str, card: AgentCard, record: Record) -> tuple[str | None, str, int]:
        """``(app, instance, expires_ms)`` of a card record: signed values only when a trust policy is set."""
        signed = liveness(card)  # ValueError when malformed
        if signed is not None:
            if self.trust is not None and (signed.agent != card.name or signed.key != key):
                raise UntrustedCard(
                    card.name, f"it is filed under key {key!r} but signed for {card_key(signed.app, signed.agent)!r}"
                )
            return signed.app, signed.instance, signed.expires_ms
        if self.trust is not None:
            raise UntrustedCard(
                card.name, "it has no liveness extension, so its instance and expiry are not covered by the signature"
            )
        headers = {k: (v or b"").decode("utf-8", "replace") for k, v in record.headers}
        expires = int(headers.get(EXPIRES_HEADER) or 0) or record.timestamp_ms + 30_000
        app = key[: -len(card.name) - 1] if key.endswith("." + card.name) else None
        return app or None, headers.get(INSTANCE_HEADER) or headers.get("ce_source", "?"), expires

    def _signal(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    def check(self, card: AgentCard) -> None:
        """Raise ``UntrustedCard`` when a trust policy is set and ``card`` does not satisfy it."""
        if self.trust is not None:
            self.trust.verify(card)

    def add(self, card: AgentCard, instance: str, expires_ms: int, *, app: str | None = None) -> None:
        """Record that ``instance`` of ``app`` serves ``card`` until ``expires_ms`` (a publisher's own cards)."""
        self._put(card_key(app, card.name) if app else card.name, app, card, instance, expires_ms)

    def _put(self, key: str, app: str | None, card: AgentCard, instance: str, expires_ms: int) -> None:
        listing = self._agents.get(key)
        if listing is None:
            listing = self._agents[key] = Listing(card, app=app)
        listing.card = card
        listing.instances[instance] = expires_ms
        listing.heard = next(self._heard)
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

    def lookup(self, name: str, *, live: bool = True) -> Listing | None:
        """The Kafka listing ``name`` means, live only unless ``live`` is false.

        ``name`` is ``{app}.{agent}``, or an agent name: then, of the listings of
        agents with that name, the one heard from most recently.
        """
        now = self._now_ms()
        exact = self._agents.get(name)
        if exact is not None and exact.app is not None:
            return exact if not live or self._live(exact, now) else None
        named = [x for x in self._agents.values() if x.card.name == name and (not live or self._live(x, now))]
        return max(named, key=lambda x: x.heard, default=None)

    def card(self, name: str) -> AgentCard | None:
        """The card of the live agent ``name`` on Kafka (the gateway's ``CardSource``; see ``lookup``)."""
        listing = self.lookup(name)
        return listing.card if listing is not None else None

    def names(self) -> list[str]:
        """The live Kafka agents: each by its name, or as ``{app}.{agent}`` where several apps have that name."""
        now = self._now_ms()
        return sorted(display_names({k: x for k, x in self._agents.items() if self._live(x, now)}).values())

    def listings(self) -> dict[str, Listing]:
        """Every agent known, live or not: Kafka ones by ``{app}.{agent}``, remote ones by name."""
        return {**self._agents, **self._remote}

    def offering(self, skill: str) -> list[Listing]:
        """Live Kafka agents offering ``skill`` first, then remote ones."""
        now = self._now_ms()
        local = [x for x in self._agents.values() if skill in x.skills and self._live(x, now)]
        return local + [x for x in self._remote.values() if skill in x.skills]

    def is_live(self, name: str) -> bool:
        return self.lookup(name) is not None

    async def wait_for(self, skill: str, timeout: float = 30.0) -> Listing:
        """Wait until a live agent offers ``skill``."""
        async with asyncio.timeout(timeout):
            while not (found := self.offering(skill)):
                await self._changed.wait()
        return found[0]

    async def close(self) -> None:
        if self._follower is not None:
            await self._follower.close()
            self._follower = None
