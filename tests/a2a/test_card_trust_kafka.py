"""With a trust policy, records on agent.cards.v1 that are not signed cards change nothing (real broker).

The agents run for real (AppRunner with the Discovery plugin, signing their
cards); the forged records are written straight to the topic, as anyone with
write access to it could, under the key the genuine records use.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from pydantic import BaseModel
from test_discovery_kafka import with_discovery
from test_signing import PRIVATE, PUBLIC

from agentflux import AgentApp, Context
from agentflux.a2a import CardRegistry, Discovery, TrustPolicy, card_signer
from agentflux.contract.topics import CARD_EXPIRES_HEADER, CARD_INSTANCE_HEADER, CARDS_TOPIC
from agentflux.transport.base import Record
from agentflux.transport.kafka import KafkaTransport
from agentflux.transport.settings import KafkaSettings

pytestmark = [pytest.mark.kafka, pytest.mark.faults, pytest.mark.timeout(90), pytest.mark.asyncio]
TRUST = TrustPolicy({"k1": PUBLIC})


class Item(BaseModel):
    sku: str


def vault(unique: str) -> AgentApp:
    app = AgentApp(f"vault-{unique}")

    @app.agent(f"guard-{unique}").skill(f"guard-{unique}", description="Guards the vault")
    async def guard(item: Item, ctx: Context) -> Item:
        return item

    return app


def signed_discovery(interval: float, ttl: float | None = None) -> Discovery:
    return Discovery(interval=interval, ttl=ttl, trust=TRUST, signer=card_signer(PRIVATE, kid="k1"))


@asynccontextmanager
async def observer(bootstrap: str) -> AsyncIterator[tuple[KafkaTransport, CardRegistry]]:
    """A connection to the broker and a registry with the trust policy following agent.cards.v1."""
    transport = KafkaTransport(KafkaSettings(bootstrap))
    await transport.start()
    registry = CardRegistry(transport, trust=TRUST)
    try:
        await registry.start()
        yield transport, registry
    finally:
        await registry.close()
        await transport.close()


async def genuine_records(transport: KafkaTransport, agent: str) -> list[Record]:
    """The records the agent itself published, oldest first."""
    return [
        r
        for r in await transport.read_all(CARDS_TOPIC)
        if r.value is not None and json.loads(r.value).get("name") == agent
    ]


async def read_so_far(transport: KafkaTransport, registry: CardRegistry, template: Record, marker: str) -> None:
    """Wait until ``registry`` has read every record published so far.

    It publishes a marker after them (``template``'s card renamed, so its
    signature fails) and waits until the registry refuses it.
    """
    renamed = {**json.loads(template.value or b""), "name": marker}
    await transport.publish(CARDS_TOPIC, json.dumps(renamed).encode(), key=marker.encode())
    try:
        async with asyncio.timeout(10):
            while marker not in registry.refused:
                await asyncio.sleep(0.02)
    except TimeoutError:
        raise AssertionError("the registry did not read the marker record within 10 s") from None


@pytest.mark.parametrize(("forgery", "reason"), [("tampered", "changed after signing"), ("tombstone", "tombstone")])
async def test_a_forged_record_under_a_trusted_agent_s_key_changes_nothing(
    kafka_bootstrap: str, unique: str, forgery: str, reason: str
) -> None:
    agent, skill = f"guard-{unique}", f"guard-{unique}"
    # No heartbeat during the test (interval 30 s): nothing but the forged record reaches the registry.
    async with with_discovery(vault(unique), kafka_bootstrap, plugins=[signed_discovery(30)]):
        async with observer(kafka_bootstrap) as (transport, registry):
            await registry.wait_for(skill, 10)
            (genuine,) = await genuine_records(transport, agent)
            card = json.loads(genuine.value or b"")
            if forgery == "tampered":  # the genuine record, one field changed
                forged = json.dumps({**card, "description": "Opens the vault to anyone"}).encode()
                await transport.publish(CARDS_TOPIC, forged, key=genuine.key, headers=genuine.headers)
            else:  # a tombstone cannot be signed
                await transport.publish(CARDS_TOPIC, None, key=genuine.key)
            await read_so_far(transport, registry, genuine, f"marker-{unique}")

            assert registry.is_live(agent) and [x.card.name for x in registry.offering(skill)] == [agent]
            listed = registry.card(agent)
            assert listed is not None and listed.description == card["description"]
            assert reason in registry.refused[(genuine.key or b"").decode()]


async def test_a_replayed_card_with_a_fresh_expiry_header_does_not_revive_a_stopped_agent(
    kafka_bootstrap: str, unique: str
) -> None:
    agent, skill = f"guard-{unique}", f"guard-{unique}"
    async with observer(kafka_bootstrap) as (transport, registry):
        async with with_discovery(vault(unique), kafka_bootstrap, plugins=[signed_discovery(0.3, ttl=1.0)]):
            await registry.wait_for(skill, 10)
        # Stopped: its last card (signed, expiring now) says so.
        heartbeat = (await genuine_records(transport, agent))[0]
        await asyncio.sleep(max(0.0, 1.2 - (time.time() * 1000 - heartbeat.timestamp_ms) / 1000))
        assert (time.time() * 1000) > heartbeat.timestamp_ms + 1_000  # its signed expiry (ttl 1 s) has passed
        await read_so_far(transport, registry, heartbeat, f"marker-1-{unique}")
        assert not registry.is_live(agent)

        far = str(int(time.time() * 1000) + 3_600_000).encode()
        replayed = [
            (k, far if k == CARD_EXPIRES_HEADER else b"replayer" if k == CARD_INSTANCE_HEADER else v)
            for k, v in heartbeat.headers
        ]
        await transport.publish(CARDS_TOPIC, heartbeat.value, key=heartbeat.key, headers=replayed)
        await read_so_far(transport, registry, heartbeat, f"marker-2-{unique}")
        assert not registry.is_live(agent) and not registry.offering(skill)
