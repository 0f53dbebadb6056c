"""Connection settings for a Kafka cluster.

Resolution order for the bootstrap address: the explicit argument, then
``AGENTFLUX_BOOTSTRAP_SERVERS``, then the embedded broker started by
``agentflux up``. Client options (TLS, mTLS, SASL, timeouts) pass straight
through to librdkafka: in code as ``client_config``, or from the environment as
``AGENTFLUX_KAFKA_<OPTION>`` with dots written as underscores, for example
``AGENTFLUX_KAFKA_SECURITY_PROTOCOL=SASL_SSL`` or
``AGENTFLUX_KAFKA_SASL_MECHANISM=SCRAM-SHA-512``. The schema registry is
``AGENTFLUX_SCHEMA_REGISTRY_URL`` (else the embedded one, see ``KafkaSettings.resolve``),
its client options ``AGENTFLUX_SCHEMA_REGISTRY_<OPTION>`` (see ``agentflux.contract.registry``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from agentflux.contract.errors import ConfigError
from agentflux.contract.registry import env_registry_config

ENV_BOOTSTRAP = "AGENTFLUX_BOOTSTRAP_SERVERS"
ENV_PREFIX = "AGENTFLUX_KAFKA_"
ENV_REGISTRY = "AGENTFLUX_SCHEMA_REGISTRY_URL"


@dataclass(frozen=True)
class KafkaSettings:
    """Everything needed to reach one Kafka cluster.

    ``client_config`` applies to producers, consumers and the admin client;
    ``producer_config`` and ``consumer_config`` override it for one side.
    ``max_message_bytes`` bounds both what is published and what a handler is
    given: a larger record is dead-lettered with the sizes in its reason.
    ``connect_timeout`` is how long ``start()`` waits for a broker to answer
    (``BrokerUnavailable`` after it); None waits as long as it takes, saying so
    once, which is what long-running processes (``agentflux run``, the gateway,
    ``mcp serve``) use so that one started during an outage comes up with the cluster.
    """

    bootstrap_servers: str
    client_config: Mapping[str, str] = field(default_factory=dict)
    producer_config: Mapping[str, str] = field(default_factory=dict)
    consumer_config: Mapping[str, str] = field(default_factory=dict)
    schema_registry_url: str | None = None
    schema_registry_config: Mapping[str, str] = field(default_factory=dict)
    max_message_bytes: int = 1_000_000
    linger_ms: float = 1.0
    connect_timeout: float | None = 10.0

    @classmethod
    def resolve(cls, bootstrap_servers: str | None = None, **options: object) -> KafkaSettings:
        """Settings from the argument, the environment, or the embedded broker, in that order.

        The schema registry URL comes from the ``schema_registry_url`` option
        (``None`` there means no registry), else ``AGENTFLUX_SCHEMA_REGISTRY_URL``,
        else the embedded registry of ``agentflux up`` -- but that one only when
        the bootstrap servers are the embedded broker's address, whether they
        came from the fallback or were given (as after ``export
        AGENTFLUX_BOOTSTRAP_SERVERS=$(agentflux up | tail -1)``). Schemas and
        their ids belong with the cluster whose records carry them: a producer
        on another cluster must not register in, or decode with, a registry
        that happens to run on this machine.
        """
        servers = bootstrap_servers or os.environ.get(ENV_BOOTSTRAP)
        embedded = None
        if not servers:
            servers = embedded = _embedded_bootstrap()
        if not servers:
            raise ConfigError(
                "no Kafka cluster configured: start the embedded one with `agentflux up`, "
                f"or set {ENV_BOOTSTRAP}=host:port"
            )
        client = {**env_client_config(), **dict(options.pop("client_config", {}) or {})}  # type: ignore[call-overload]
        if "schema_registry_url" not in options:
            options["schema_registry_url"] = os.environ.get(ENV_REGISTRY) or _embedded_registry(servers, embedded)
        registry = {k: v for k, v in env_registry_config().items() if k != "url"}
        options["schema_registry_config"] = {**registry, **dict(options.get("schema_registry_config") or {})}  # type: ignore[call-overload]
        return cls(bootstrap_servers=servers, client_config=client, **options)  # type: ignore[arg-type]

    def base_config(self) -> dict[str, str]:
        return {"bootstrap.servers": self.bootstrap_servers, **self.client_config}


def env_client_config(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """librdkafka options from ``AGENTFLUX_KAFKA_*`` variables."""
    env = os.environ if environ is None else environ
    return {
        name[len(ENV_PREFIX) :].lower().replace("_", "."): value
        for name, value in env.items()
        if name.startswith(ENV_PREFIX)
    }


def _embedded_bootstrap() -> str | None:
    try:
        from agentflux.local import local_bootstrap
    except ImportError:
        return None
    return local_bootstrap()


def _embedded_registry(servers: str, embedded_bootstrap: str | None) -> str | None:
    """The embedded registry's URL when ``servers`` is the embedded broker's address, else None."""
    try:
        from agentflux.local import local_bootstrap, local_registry_url
    except ImportError:
        return None
    if servers != (embedded_bootstrap or local_bootstrap()):
        return None
    return local_registry_url()
