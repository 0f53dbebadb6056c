"""Optional: let an LLM behind an OpenAI-compatible endpoint make the pricing decision.

Off unless both ``AGENTFLUX_LLM_URL`` and ``AGENTFLUX_LLM_MODEL`` are set::

    AGENTFLUX_LLM_URL=https://api.openai.com/v1     # or http://localhost:11434/v1 (Ollama), vLLM, ...
    AGENTFLUX_LLM_MODEL=gpt-4o-mini
    AGENTFLUX_LLM_API_KEY=sk-...                     # optional; sent as a Bearer token
    AGENTFLUX_LLM_TIMEOUT=10                         # optional; seconds per call

The model gets the facts and the rules' own proposal, and must answer with a
JSON object ``{"action": "adjust"|"hold", "price": number|null, "reason": str}``.
Its answer is used only when it passes guardrails: an adjusted price must be at
least the floor price and within 50 % of the competitor's price. On any error
(unreachable endpoint, timeout, bad JSON, a guardrail) the rules decide, and
the decision says so. An LLM is not deterministic, so a redelivered event may
be decided differently; the ``update-price`` skill then keeps the first
applied price for that change id (see ``app.py``).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import httpx

from examples.ecommerce_pricing.rules import Decision, Facts, cents

log = logging.getLogger("examples.pricing.llm")

SYSTEM_PROMPT = (
    "You set the retail price of one product in response to a competitor's price change. "
    "Never price below floor_price. With no units available, hold. "
    'Answer with one JSON object only: {"action": "adjust" or "hold", "price": number or null, "reason": string}.'
)


@dataclass(frozen=True)
class LlmSettings:
    url: str
    model: str
    api_key: str | None = None
    timeout: float = 10.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> LlmSettings | None:
        """The settings, or None (rules only) unless both the URL and the model are set."""
        env = os.environ if env is None else env
        url, model = env.get("AGENTFLUX_LLM_URL", "").strip(), env.get("AGENTFLUX_LLM_MODEL", "").strip()
        if not url or not model:
            return None
        return cls(url, model, env.get("AGENTFLUX_LLM_API_KEY") or None, float(env.get("AGENTFLUX_LLM_TIMEOUT", "10")))

    @property
    def endpoint(self) -> str:
        base = self.url.rstrip("/")
        return base if base.endswith("/chat/completions") else f"{base}/chat/completions"


class LlmAdvisor:
    """Asks the model; falls back to the rules' decision on any failure. Safe for concurrent use."""

    def __init__(self, settings: LlmSettings, *, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.settings = settings
        self._transport = transport

    async def decide(self, facts: Facts, proposal: Decision) -> Decision:
        try:
            answer = await self._ask(facts, proposal)
            return self._checked(answer, facts)
        except Exception as exc:  # any failure: the rules decide
            problem = f"{type(exc).__name__}: {exc}"
            log.warning("LLM decision for %s failed (%s); using the rules", facts.product_id, problem)
            return Decision(proposal.action, proposal.price, f"{proposal.reason} (LLM unavailable)", "rules")

    async def _ask(self, facts: Facts, proposal: Decision) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {self.settings.api_key}"} if self.settings.api_key else {}
        body = {
            "model": self.settings.model,
            "temperature": 0,
            "messages": [
                {"role": "system", "content": SYSTEM_PROMPT},
                {"role": "user", "content": json.dumps({"facts": asdict(facts), "rules_proposal": asdict(proposal)})},
            ],
        }
        async with httpx.AsyncClient(timeout=self.settings.timeout, transport=self._transport) as client:
            response = await client.post(self.settings.endpoint, json=body, headers=headers)
            response.raise_for_status()
        content = response.json()["choices"][0]["message"]["content"]
        start, end = content.find("{"), content.rfind("}")
        if start < 0 or end < start:
            raise ValueError(f"no JSON object in the answer: {content[:200]!r}")
        answer = json.loads(content[start : end + 1])
        if not isinstance(answer, dict):
            raise ValueError("the answer is not a JSON object")
        return answer

    def _checked(self, answer: dict[str, Any], facts: Facts) -> Decision:
        action, reason = answer.get("action"), str(answer.get("reason") or "no reason given")
        by = f"llm:{self.settings.model}"
        if action == "hold":
            return Decision("hold", None, reason, by)
        if action != "adjust":
            raise ValueError(f"unknown action {action!r}")
        price = answer.get("price")
        if isinstance(price, bool) or not isinstance(price, int | float):
            raise ValueError(f"price {price!r} is not a number")
        price = cents(price)
        if price < facts.floor_price:
            raise ValueError(f"price {price} is below the floor {facts.floor_price}")
        if not 0.5 * facts.competitor_price <= price <= 1.5 * facts.competitor_price:
            raise ValueError(f"price {price} is more than 50% away from the competitor's {facts.competitor_price}")
        return Decision("adjust", price, reason, by)
