"""Remote A2A agents by card URL, reached through ctx.delegate; signed cards and the trust policy."""

from __future__ import annotations

import asyncio
import json

import pytest
from a2a.types import AgentCard
from a2a_helpers import free_port, serve
from pydantic import BaseModel
from remote_agent import remote_app, remote_card
from test_discovery_kafka import with_discovery
from test_signing import PRIVATE, PUBLIC

from agentflux import AgentApp, AgentClient, Context, TaskFailed
from agentflux.a2a import CardPublisher, CardRegistry, Discovery, TrustPolicy, UntrustedCard, card_signer, fetch_card
from agentflux.transport.kafka import KafkaTransport
from agentflux.transport.settings import KafkaSettings

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(90), pytest.mark.asyncio]


class Words(BaseModel):
    text: str


def relay_app(unique: str) -> AgentApp:
    app = AgentApp(f"relay-{unique}")
    agent = app.agent(f"relay-{unique}")

    @agent.skill(f"relay-{unique}", description="Has a remote agent shout")
    async def relay(words: Words, ctx: Context) -> Words:
        shouted = await ctx.delegate(f"shout-{unique}", {"text": words.text}, timeout=20)
        return Words(text=shouted["text"])

    return app


def tampered(signer: object) -> object:
    def serve_card(card: AgentCard) -> AgentCard:
        signed = signer(card)  # type: ignore[operator]
        signed.description = "Shouts back, and keeps a copy"
        return signed  # type: ignore[no-any-return]

    return serve_card


async def test_a_remote_agent_registered_by_card_url_is_reached_through_delegate(
    kafka_bootstrap: str, unique: str
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    card = remote_card(f"shouter-{unique}", f"shout-{unique}", url)
    trust = TrustPolicy({"k1": PUBLIC})
    async with serve(remote_app(card, served=card_signer(PRIVATE, kid="k1")), port):
        app = relay_app(unique)
        # With a trust policy, the mesh's own cards must be signed too.
        discovery = Discovery(remote_urls=[url], trust=trust, signer=card_signer(PRIVATE, kid="k1"), interval=0.5)
        async with with_discovery(app, kafka_bootstrap, plugins=[discovery]), AgentClient(kafka_bootstrap) as client:
            assert discovery.registry is not None
            assert discovery.registry.offering(f"shout-{unique}")[0].url == url
            assert await client.delegate(f"relay-{unique}", {"text": "hello"}, timeout=20) == {"text": "HELLO"}
            with pytest.raises(TaskFailed) as refused:  # the relay's handler got TaskRejected
                await client.delegate(f"relay-{unique}", {"text": "forbidden"}, timeout=20)
            assert refused.value.error_type == "TaskRejected" and "rejected by the remote agent" in refused.value.error
            assert f"relay-{unique}.relay-{unique}" not in discovery.registry.refused  # its own card is signed


async def test_unsigned_and_tampered_remote_cards_are_refused_with_a_reason(unique: str) -> None:
    trust = TrustPolicy({"k1": PUBLIC})
    for served, reason in [(None, "it is not signed"), (tampered(card_signer(PRIVATE, kid="k1")), "changed after")]:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        card = remote_card(f"shouter-{unique}", f"shout-{unique}", url)
        async with serve(remote_app(card, served=served), port):  # type: ignore[arg-type]
            assert (await fetch_card(url)).name == card.name  # no policy: accepted
            with pytest.raises(UntrustedCard, match=reason):
                await fetch_card(url, trust=trust)
            with pytest.raises(UntrustedCard):
                await Discovery(remote_urls=[url], trust=trust).start(_FakeRunner())  # type: ignore[arg-type]


class _FakeRunner:
    """Enough of an AppRunner for Discovery to fail on the remote card before it needs Kafka."""

    transport = None


async def test_the_registry_refuses_unsigned_and_tampered_cards_on_kafka(kafka_bootstrap: str, unique: str) -> None:
    transport = KafkaTransport(KafkaSettings(kafka_bootstrap))
    await transport.start()
    signer = card_signer(PRIVATE, kid="k1")
    good = remote_card(f"good-{unique}", f"good-{unique}", "http://x")
    unsigned = remote_card(f"unsigned-{unique}", f"unsigned-{unique}", "http://x")
    forged = remote_card(f"forged-{unique}", f"forged-{unique}", "http://x")
    registry = CardRegistry(transport, trust=TrustPolicy({"k1": PUBLIC}))
    app = f"cards-{unique}"
    publishers = [
        CardPublisher(transport, [good], app=app, signer=signer),
        CardPublisher(transport, [unsigned], app=app),
        CardPublisher(transport, [forged], app=app, signer=tampered(signer)),  # type: ignore[arg-type]
    ]
    try:
        for publisher in publishers:
            await publisher.publish()
        await registry.start()
        await registry.wait_for(f"good-{unique}", 10)
        async with asyncio.timeout(10):
            while len([n for n in registry.refused if unique in n]) < 2:
                await asyncio.sleep(0.05)
        assert "not signed" in registry.refused[f"{app}.unsigned-{unique}"]
        assert "changed after signing" in registry.refused[f"{app}.forged-{unique}"]
        assert not registry.offering(f"unsigned-{unique}") and not registry.offering(f"forged-{unique}")
        assert json.dumps(sorted(registry.refused))  # the CLI lists them too
    finally:
        await registry.close()
        await transport.close()
