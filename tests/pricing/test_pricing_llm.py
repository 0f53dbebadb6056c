"""The optional LLM decision: used when it passes the guardrails, the rules decide on any failure."""

import json

import httpx
import pytest

from examples.ecommerce_pricing.llm import LlmAdvisor, LlmSettings
from examples.ecommerce_pricing.rules import Facts, decide

FACTS = Facts("SKU-1", competitor_price=50.0, previous_competitor_price=60.0, available=40, floor_price=45.0)
PROPOSAL = decide(FACTS)


def advisor(reply: httpx.Response | Exception, seen: list[httpx.Request] | None = None) -> LlmAdvisor:
    def handle(request: httpx.Request) -> httpx.Response:
        if seen is not None:
            seen.append(request)
        if isinstance(reply, Exception):
            raise reply
        return reply

    settings = LlmSettings("http://llm.local/v1", "tiny", api_key="k", timeout=1)
    return LlmAdvisor(settings, transport=httpx.MockTransport(handle))


def answer(content: str) -> httpx.Response:
    return httpx.Response(200, json={"choices": [{"message": {"role": "assistant", "content": content}}]})


@pytest.mark.asyncio
async def test_a_sound_answer_is_used_and_the_request_is_openai_shaped() -> None:
    seen: list[httpx.Request] = []
    reply = answer('Sure! {"action": "adjust", "price": 48.999, "reason": "beat them"}')
    decision = await advisor(reply, seen).decide(FACTS, PROPOSAL)
    assert (decision.action, decision.price, decision.reason, decision.decided_by) == (
        "adjust", 49.0, "beat them", "llm:tiny",
    )  # fmt: skip
    request = seen[0]
    assert str(request.url) == "http://llm.local/v1/chat/completions"
    assert request.headers["authorization"] == "Bearer k"
    body = json.loads(request.content)
    assert body["model"] == "tiny" and body["messages"][0]["role"] == "system"
    assert json.loads(body["messages"][1]["content"])["facts"]["floor_price"] == 45.0


@pytest.mark.asyncio
async def test_hold_is_taken_as_is() -> None:
    decision = await advisor(answer('{"action": "hold", "price": null, "reason": "wait"}')).decide(FACTS, PROPOSAL)
    assert (decision.action, decision.price, decision.decided_by) == ("hold", None, "llm:tiny")


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "reply",
    [
        answer('{"action": "adjust", "price": 30.0, "reason": "below the floor"}'),
        answer('{"action": "adjust", "price": 99.0, "reason": "too far from the competitor"}'),
        answer('{"action": "adjust", "price": "cheap", "reason": "not a number"}'),
        answer('{"action": "panic"}'),
        answer("no JSON at all"),
        httpx.Response(500, text="overloaded"),
        httpx.ConnectError("refused"),
    ],
)
async def test_any_failure_falls_back_to_the_rules(reply: httpx.Response | Exception) -> None:
    decision = await advisor(reply).decide(FACTS, PROPOSAL)
    assert (decision.action, decision.price, decision.decided_by) == (PROPOSAL.action, PROPOSAL.price, "rules")
    assert "LLM unavailable" in decision.reason


def test_off_unless_configured() -> None:
    assert LlmSettings.from_env({}) is None
    assert LlmSettings.from_env({"AGENTFLUX_LLM_URL": "http://x/v1"}) is None
    settings = LlmSettings.from_env({"AGENTFLUX_LLM_URL": "http://x/v1/", "AGENTFLUX_LLM_MODEL": "m"})
    assert settings is not None and settings.endpoint == "http://x/v1/chat/completions" and settings.api_key is None
