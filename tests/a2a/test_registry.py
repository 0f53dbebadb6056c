"""The card registry and the card records it reads (fast tier: the in-memory transport, no broker)."""

from __future__ import annotations

import json
import time

import cards_app
import pytest
from a2a.types import AgentCard
from remote_agent import remote_card
from test_signing import PRIVATE, PUBLIC

from agentflux import ConfigError
from agentflux.a2a import CardPublisher, CardRegistry, Gateway, TrustPolicy, UntrustedCard, build_card, card_signer
from agentflux.a2a.cards import (
    SKILL_SCHEMAS_URI,
    Liveness,
    card_from_json,
    card_to_json,
    liveness,
    with_interfaces,
    with_liveness,
)
from agentflux.a2a.registry import EXPIRES_HEADER, INSTANCE_HEADER, UNSIGNED_TOMBSTONE
from agentflux.contract.topics import CARDS_TOPIC
from agentflux.transport.base import Record
from agentflux.transport.memory import MemoryTransport

pytestmark = pytest.mark.asyncio
SIGNER = card_signer(PRIVATE, kid="k1")
TRUST = TrustPolicy({"k1": PUBLIC})
HOUR_MS = 3_600_000


def inventory() -> AgentCard:
    return build_card(cards_app.inventory)


def now_ms() -> int:
    return int(time.time() * 1000)


async def records(transport: MemoryTransport) -> list[Record]:
    return await transport.read_all(CARDS_TOPIC)


async def read(transport: MemoryTransport, *, trust: TrustPolicy | None = None) -> CardRegistry:
    """A registry that has read every card record published so far."""
    registry = CardRegistry(transport, trust=trust)
    await registry.start()
    await registry.close()
    return registry


async def publish(transport: MemoryTransport, key: str, card: AgentCard | None, **headers: str) -> None:
    value = None if card is None else json.dumps(card_to_json(card)).encode()
    await transport.publish(CARDS_TOPIC, value, key=key.encode(), headers=[(k, v.encode()) for k, v in headers.items()])


async def test_every_heartbeat_is_a_card_signed_with_its_app_instance_and_expiry() -> None:
    transport = MemoryTransport()
    publisher = CardPublisher(transport, [inventory()], app="shop", instance="i-1", signer=SIGNER)
    await publisher.publish(expires_ms=1_000)
    await publisher.publish(expires_ms=2_000)
    first, second = await records(transport)
    cards = [card_from_json(r.value or b"") for r in (first, second)]
    for record, card, expires in [(first, cards[0], 1_000), (second, cards[1], 2_000)]:
        assert record.key == b"shop.inventory"
        TRUST.verify(card)
        assert liveness(card) == Liveness("shop", "inventory", "i-1", expires)
        headers = dict(record.headers)
        assert (headers[INSTANCE_HEADER], headers[EXPIRES_HEADER]) == (b"i-1", str(expires).encode())
    assert cards[0].signatures[0].signature != cards[1].signatures[0].signature  # signed anew, not once
    moved = with_liveness(cards[1], app="shop", instance="i-1", expires_ms=9_000)
    moved.signatures.extend(cards[1].signatures)
    with pytest.raises(UntrustedCard, match="changed after signing"):
        TRUST.verify(moved)  # the expiry is covered by the signature
    with pytest.raises(ConfigError, match="invalid app name"):
        CardPublisher(transport, [inventory()], app="shop.v2")


async def test_the_gateway_serves_a_published_card_without_its_liveness_extension() -> None:
    published = CardPublisher(MemoryTransport(), [inventory()], app="shop", signer=SIGNER).published(
        inventory(), now_ms()
    )
    assert liveness(published) is not None
    gateway = Gateway(MemoryTransport(), CardRegistry(MemoryTransport()), public_url="http://gw", signer=SIGNER)
    served = gateway.served_card(published)
    assert [e.uri for e in served.capabilities.extensions] == [SKILL_SCHEMAS_URI]
    assert {i.url for i in served.supported_interfaces} == {"http://gw/agents/shop.inventory"}
    TRUST.verify(served)  # signed again by the gateway, over what it serves
    assert liveness(with_interfaces(published, [])) is None
    declared = gateway.served_card(inventory())  # from declarations: no app, the agent name
    assert {i.url for i in declared.supported_interfaces} == {"http://gw/agents/inventory"}


async def test_with_a_trust_policy_refused_records_and_tombstones_change_nothing() -> None:
    transport = MemoryTransport()
    publisher = CardPublisher(transport, [inventory()], app="shop", instance="i-1", signer=SIGNER)
    await publisher.publish(expires_ms=now_ms() + HOUR_MS)
    (genuine,) = await records(transport)
    card = card_from_json(genuine.value or b"")
    tampered = card_from_json(genuine.value or b"")
    tampered.description = "Gives everything away"
    await publish(transport, "shop.inventory", tampered)
    await publish(transport, "shop.inventory", None)
    await publish(transport, "other.inventory", card)  # a genuine card filed under another app's key
    no_liveness = SIGNER(inventory())  # signed, but only the (unsigned) headers say until when it is live
    await publish(transport, "bare.inventory", no_liveness, **{EXPIRES_HEADER: str(now_ms() + HOUR_MS)})
    await publish(transport, "junk.inventory", None)
    await transport.publish(CARDS_TOPIC, b'["not a card"]', key=b"junk.inventory")

    registry = await read(transport, trust=TRUST)
    assert registry.names() == ["inventory"]
    assert registry.card("inventory") == card and registry.card("shop.inventory") == card
    assert registry.refused == {
        "shop.inventory": UNSIGNED_TOMBSTONE,
        "other.inventory": "it is filed under key 'other.inventory' but signed for 'shop.inventory'",
        "bare.inventory": "it has no liveness extension, so its instance and expiry are not covered by the signature",
        "junk.inventory": registry.refused["junk.inventory"],
    }
    assert registry.refused["junk.inventory"].startswith("not a valid card record")

    await publisher.publish(expires_ms=now_ms() - 1)  # its own signed farewell retires it
    retired = await read(transport, trust=TRUST)
    assert retired.names() == [] and "shop.inventory" not in retired.refused


async def test_without_a_trust_policy_headers_stand_in_for_a_missing_extension_and_a_tombstone_removes() -> None:
    transport = MemoryTransport()
    legacy = inventory()  # published by an older agentflux: keyed by agent name, liveness in headers only
    await publish(transport, "inventory", legacy, **{INSTANCE_HEADER: "old-1", EXPIRES_HEADER: str(now_ms() + HOUR_MS)})
    publisher = CardPublisher(transport, [inventory()], app="shop", instance="i-1")
    await publisher.publish()
    registry = await read(transport)
    assert sorted(registry.listings()) == ["inventory", "shop.inventory"]
    assert list(registry.listings()["inventory"].instances) == ["old-1"]
    assert registry.listings()["shop.inventory"].app == "shop"
    assert registry.names() == ["inventory", "shop.inventory"]  # two live listings of one name: qualified

    await publish(transport, "shop.inventory", None)
    await publish(transport, "inventory", None)
    assert (await read(transport)).listings() == {}


async def test_an_agent_name_means_the_live_listing_heard_most_recently() -> None:
    clock = [1_000.0]
    registry = CardRegistry(MemoryTransport(), clock=lambda: clock[0])
    east, west = (remote(skill) for skill in ("east-job", "west-job"))
    registry.add(east, "e-1", 2_000_000, app="east")
    registry.add(west, "w-1", 1_500_000, app="west")
    registry.add(remote("audit", name="auditor"), "a-1", 2_000_000, app="west")
    assert registry.names() == ["auditor", "east.worker", "west.worker"]
    assert registry.card("worker") == west and registry.card("east.worker") == east
    assert [x.key for x in registry.offering("east-job")] == ["east.worker"]
    registry.add(east, "e-1", 2_000_000, app="east")  # east's heartbeat
    assert registry.card("worker") == east
    clock[0] = 1_600.0  # west expired: its name alone now means east, its qualified name nothing
    assert registry.card("worker") == east and registry.card("west.worker") is None
    assert registry.names() == ["auditor", "worker"]
    assert registry.lookup("west.worker", live=False) is not None and not registry.is_live("west.worker")


def remote(skill: str, *, name: str = "worker") -> AgentCard:
    return remote_card(name, skill, "http://x")
