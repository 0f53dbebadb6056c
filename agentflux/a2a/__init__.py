"""A2A 1.0 for agentflux, through the official a2a-sdk.

* Cards: ``build_card`` / ``build_cards`` from declarations (``agentflux.a2a.cards``).
* Discovery over Kafka: ``Discovery`` (a runner plugin), ``CardPublisher``, ``CardRegistry``.
* The HTTP gateway: ``Gateway`` (JSON-RPC and HTTP+JSON per agent).
* Handlers: ``a2a_task(ctx)``, ``InputRequired``, ``Reply``, ``file_bytes``, ``file_url``.
* The Kafka binding: ``KAFKA_BINDING``, ``register_kafka_binding`` (``agentflux.a2a.kafka_binding``).
* Remote agents: ``fetch_card``; signed cards: ``card_signer``, ``TrustPolicy``, ``UntrustedCard``.

Needs the ``a2a`` extra: ``pip install 'agentflux[a2a]'``.
"""

try:
    import a2a.types  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError("agentflux.a2a needs the a2a-sdk: pip install 'agentflux[a2a]'") from exc

from agentflux.a2a.cards import KAFKA_BINDING, SKILL_SCHEMAS_URI, build_card, build_cards, skill_schemas
from agentflux.a2a.discovery import CardPublisher, Discovery, RegistryRouter
from agentflux.a2a.gateway import AppCards, Gateway
from agentflux.a2a.kafka_binding import KafkaClientTransport, register_kafka_binding
from agentflux.a2a.messages import Reply
from agentflux.a2a.registry import CardRegistry
from agentflux.a2a.remote import fetch_card
from agentflux.a2a.signing import TrustPolicy, UntrustedCard, card_signer
from agentflux.a2a.updates import A2ATask, InputRequired, a2a_task, file_bytes, file_url

__all__ = [
    "KAFKA_BINDING",
    "SKILL_SCHEMAS_URI",
    "A2ATask",
    "AppCards",
    "CardPublisher",
    "CardRegistry",
    "Discovery",
    "Gateway",
    "InputRequired",
    "KafkaClientTransport",
    "RegistryRouter",
    "Reply",
    "TrustPolicy",
    "UntrustedCard",
    "a2a_task",
    "build_card",
    "build_cards",
    "card_signer",
    "fetch_card",
    "file_bytes",
    "file_url",
    "register_kafka_binding",
    "skill_schemas",
]
