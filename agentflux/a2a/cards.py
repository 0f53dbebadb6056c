"""Agent Cards from declarations: one A2A 1.0 ``AgentCard`` per agent with skills.

Every field the spec requires is filled, from the declarations where they say
it and with a documented default where they do not:

* ``description`` is the agent's; without one it names the skills it offers.
* ``version`` is ``app.version`` when the app sets one, else ``0.1.0``.
* each skill's ``description`` defaults to its name, its ``tags`` to the
  agent's name, and its ``examples`` come from the input model's JSON Schema
  ``examples`` (``model_config = ConfigDict(json_schema_extra={"examples": [...]})``),
  each written as compact JSON.

**Skill schemas.** ``AgentSkill`` (A2A 1.0) has no field for JSON Schemas, so
they travel in an agent extension, ``capabilities.extensions``, with the URI
``SKILL_SCHEMAS_URI``. Its ``params`` are ``{"skills": {skill_id: {"input": <JSON
Schema of the data part a message carries>, "output": <JSON Schema of the result
artifact's data part>, "reply": "task" | "message"}}}``. When the skill's task
topics are in a registry format, each entry also has ``"format"`` (``avro`` or
``json-schema``) and ``"subjects": {"request": ..., "result": ...}``, the
registry subjects of the request and result records. The extension is not
``required``: a client that ignores it can still talk to the agent. See
``skill_schemas`` for reading it back.

**Interfaces**, in order of preference: the gateway's ``JSONRPC`` and
``HTTP+JSON`` (when a gateway base URL is known), then the Kafka binding
(``KAFKA_BINDING``, see docs/a2a-kafka-binding.md) when a bootstrap address is.
``capabilities.streaming`` is true (both bindings stream); push notifications
and the extended card are not implemented, so they are not declared.

**Liveness.** A card published to ``agent.cards.v1`` also carries, in the
extension ``LIVENESS_URI`` (not required), who published it and for how long it
holds: ``{"app", "agent", "instance", "expiresMs"}`` (``with_liveness``, read back
with ``liveness``). It is inside the card, so a signature covers it; the record
is keyed by ``card_key(app, agent)``, ``{app}.{agent}``. It describes one
process, not the agent, so the gateway does not serve it (``with_interfaces``
and ``without_liveness`` drop it).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from a2a.types import AgentCapabilities, AgentCard, AgentExtension, AgentInterface, AgentSkill
from a2a.utils.constants import PROTOCOL_VERSION_1_0, TransportProtocol
from google.protobuf.json_format import MessageToDict

from agentflux.a2a.messages import REPLY_MODES, is_reply_model, text_field
from agentflux.contract.errors import ConfigError
from agentflux.runtime.declarations import Agent, AgentApp
from agentflux.runtime.handlers import Skill

KAFKA_BINDING = "https://agentflux.dev/bindings/kafka/v1"
SKILL_SCHEMAS_URI = "https://agentflux.dev/extensions/skill-schemas/v1"
LIVENESS_URI = "https://agentflux.dev/extensions/liveness/v1"
DEFAULT_VERSION = "0.1.0"
JSON_MODE = "application/json"
TEXT_MODE = "text/plain"


def kafka_url(bootstrap_servers: str, agent: str) -> str:
    """The Kafka binding's interface URL: ``kafka://{bootstrap servers}/agents/{agent}``."""
    return f"kafka://{bootstrap_servers}/agents/{agent}"


def interfaces(agent: str, *, gateway_url: str | None, bootstrap_servers: str | None) -> list[AgentInterface]:
    """The agent's interfaces in order of preference (HTTP first, then Kafka)."""
    out = []
    if gateway_url:
        base = f"{gateway_url.rstrip('/')}/agents/{agent}"
        for binding in (TransportProtocol.JSONRPC, TransportProtocol.HTTP_JSON):
            out.append(AgentInterface(url=base, protocol_binding=binding, protocol_version=PROTOCOL_VERSION_1_0))
    if bootstrap_servers:
        out.append(
            AgentInterface(
                url=kafka_url(bootstrap_servers, agent),
                protocol_binding=KAFKA_BINDING,
                protocol_version=PROTOCOL_VERSION_1_0,
            )
        )
    return out


def build_card(
    agent: Agent,
    *,
    gateway_url: str | None = None,
    bootstrap_servers: str | None = None,
    version: str | None = None,
) -> AgentCard:
    """The Agent Card of ``agent``; ConfigError when it offers no skills."""
    if not agent.skills:
        raise ConfigError(f"agent {agent.name!r} offers no skills, so it has no Agent Card")
    servers = bootstrap_servers if bootstrap_servers is not None else agent.app.bootstrap_servers
    schemas = {s.id: _skill_schemas(agent, s) for s in agent.skills}
    extension = AgentExtension(
        uri=SKILL_SCHEMAS_URI,
        description="JSON Schemas of each skill's input (a message's data part) and output (the result artifact)",
        required=False,
    )
    extension.params.update({"skills": schemas})
    return AgentCard(
        name=agent.name,
        description=agent.description or f"agentflux agent offering {', '.join(s.id for s in agent.skills)}",
        version=version or getattr(agent.app, "version", None) or DEFAULT_VERSION,
        supported_interfaces=interfaces(agent.name, gateway_url=gateway_url, bootstrap_servers=servers),
        capabilities=AgentCapabilities(streaming=True, push_notifications=False, extensions=[extension]),
        default_input_modes=[JSON_MODE, TEXT_MODE],
        default_output_modes=[JSON_MODE, TEXT_MODE],
        skills=[_skill(agent, s) for s in agent.skills],
    )


def build_cards(app: AgentApp, **options: Any) -> list[AgentCard]:
    """Cards of every agent of ``app`` that offers skills, in declaration order."""
    return [build_card(a, **options) for a in app.agents.values() if a.skills]


def _reply(skill: Skill) -> str:
    return "message" if is_reply_model(skill.output_model) else "task"


def _skill(agent: Agent, skill: Skill) -> AgentSkill:
    inputs = [JSON_MODE, TEXT_MODE] if text_field(skill.input_schema) else [JSON_MODE]
    outputs = list(REPLY_MODES) if is_reply_model(skill.output_model) else [JSON_MODE]
    return AgentSkill(
        id=skill.id,
        name=skill.name or skill.id,
        description=skill.description or skill.name or skill.id,
        tags=list(skill.tags) or [agent.name],
        examples=list(_examples(skill)),
        input_modes=inputs,
        output_modes=outputs,
    )


def _examples(skill: Skill) -> Iterable[str]:
    declared = getattr(skill, "examples", None)
    if declared:
        yield from (e if isinstance(e, str) else json.dumps(e, separators=(",", ":")) for e in declared)
        return
    for example in skill.input_schema.get("examples", ()):
        yield example if isinstance(example, str) else json.dumps(example, separators=(",", ":"), sort_keys=True)


def _skill_schemas(agent: Agent, skill: Skill) -> dict[str, Any]:
    found: dict[str, Any] = {"input": skill.input_schema, "output": skill.output_schema, "reply": _reply(skill)}
    request, result = agent.app.format_of(skill.request_topic), agent.app.format_of(skill.results_topic)
    if request.registered and request.types and result.types:
        found["format"] = request.format
        found["subjects"] = {"request": request.subject(request.types[0]), "result": result.subject(result.types[0])}
    return found


def skill_schemas(card: AgentCard) -> dict[str, dict[str, Any]]:
    """``{skill_id: {"input": schema, "output": schema, "reply": "task"|"message"}}`` from a card's extension."""
    for extension in card.capabilities.extensions:
        if extension.uri == SKILL_SCHEMAS_URI:
            skills = MessageToDict(extension.params).get("skills", {})
            return {k: v for k, v in skills.items() if isinstance(v, dict)}
    return {}


def card_to_json(card: AgentCard) -> dict[str, Any]:
    """The card in its JSON form (camelCase, as served and as published to ``agent.cards.v1``)."""
    out: dict[str, Any] = MessageToDict(card)
    return out


def card_from_json(data: Mapping[str, Any] | str | bytes) -> AgentCard:
    """An ``AgentCard`` from its JSON form; ``ValueError`` when it is not one."""
    from a2a.client.card_resolver import parse_agent_card

    raw = json.loads(data) if isinstance(data, str | bytes) else dict(data)
    try:
        return parse_agent_card(raw)
    except Exception as exc:  # ParseError, TypeError: not a card
        raise ValueError(f"not an A2A Agent Card: {exc}") from exc


def with_interfaces(card: AgentCard, interfaces_: Iterable[AgentInterface]) -> AgentCard:
    """A copy of ``card`` listing ``interfaces_``, without liveness and signatures (they covered the old card)."""
    copy = without_liveness(card)
    del copy.supported_interfaces[:]
    copy.supported_interfaces.extend(interfaces_)
    return copy


def card_key(app: str, agent: str) -> str:
    """The record key of an agent's card on ``agent.cards.v1``: ``{app}.{agent}``.

    App and agent names are lowercase words joined by hyphens, so the dot is unambiguous.
    """
    return f"{app}.{agent}"


@dataclass(frozen=True)
class Liveness:
    """What the liveness extension of a published card says: which process serves it, until when."""

    app: str
    agent: str
    instance: str
    expires_ms: int

    @property
    def key(self) -> str:
        return card_key(self.app, self.agent)


def with_liveness(card: AgentCard, *, app: str, instance: str, expires_ms: int) -> AgentCard:
    """A copy of ``card`` whose liveness extension says ``app``, ``instance`` and ``expires_ms`` (unsigned)."""
    copy = without_liveness(card)
    extension = AgentExtension(
        uri=LIVENESS_URI, description="The publishing instance, and until when it counts as live", required=False
    )
    extension.params.update({"app": app, "agent": card.name, "instance": instance, "expiresMs": expires_ms})
    copy.capabilities.extensions.append(extension)
    return copy


def liveness(card: AgentCard) -> Liveness | None:
    """The card's liveness extension; ``None`` without one, ``ValueError`` when it is malformed."""
    for extension in card.capabilities.extensions:
        if extension.uri == LIVENESS_URI:
            params = MessageToDict(extension.params)
            app, agent, instance, expires = (params.get(k) for k in ("app", "agent", "instance", "expiresMs"))
            if not (isinstance(app, str) and isinstance(agent, str) and isinstance(instance, str)):
                raise ValueError(f"the liveness extension needs string app, agent and instance, got {params}")
            if not isinstance(expires, int | float) or isinstance(expires, bool):
                raise ValueError(f"the liveness extension needs a numeric expiresMs, got {expires!r}")
            return Liveness(app, agent, instance, int(expires))
    return None


def without_liveness(card: AgentCard) -> AgentCard:
    """A copy of ``card`` without the liveness extension, and so without signatures (they covered it)."""
    copy = AgentCard()
    copy.CopyFrom(card)
    copy.ClearField("signatures")
    kept = [e for e in copy.capabilities.extensions if e.uri != LIVENESS_URI]
    if len(kept) != len(copy.capabilities.extensions):
        del copy.capabilities.extensions[:]
        copy.capabilities.extensions.extend(kept)
    return copy


__all__ = [
    "KAFKA_BINDING",
    "LIVENESS_URI",
    "SKILL_SCHEMAS_URI",
    "Liveness",
    "build_card",
    "build_cards",
    "card_from_json",
    "card_key",
    "card_to_json",
    "interfaces",
    "kafka_url",
    "liveness",
    "skill_schemas",
    "with_interfaces",
    "with_liveness",
    "without_liveness",
]
