"""The schema registry: where to find it, and the calls agentflux makes to it.

Any registry with the Confluent REST API works: Confluent Schema Registry,
Apicurio Registry (its ``/apis/ccompat/v7`` API, which ``agentflux up`` starts
next to Kafka) or Karapace. Client options pass straight through to
confluent-kafka's ``SchemaRegistryClient``: in code as
``KafkaSettings(schema_registry_config={...})``, from the environment as
``AGENTFLUX_SCHEMA_REGISTRY_<OPTION>`` with dots written as underscores, for
example ``AGENTFLUX_SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO=user:secret`` or
``AGENTFLUX_SCHEMA_REGISTRY_SSL_CA_LOCATION=/etc/ca.pem``.

Every failure to reach the registry, and a refusal of the credentials (HTTP
401/403), is raised as ``SchemaRegistryUnavailable`` (transient: a consumer
waits rather than dead-letter records it could read with the right
credentials). Any other refusal keeps confluent-kafka's ``SchemaRegistryError``,
which carries the HTTP status and the registry's code.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from agentflux.contract.errors import ConfigError, SchemaRegistryUnavailable

if TYPE_CHECKING:
    from confluent_kafka.schema_registry import AsyncSchemaRegistryClient, RegisteredSchema, Schema

ENV_PREFIX = "AGENTFLUX_SCHEMA_REGISTRY_"
NOT_FOUND_CODES = (40401, 40402, 40403)  # subject, version, schema not found
T = TypeVar("T")


def env_registry_config(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Registry client options from ``AGENTFLUX_SCHEMA_REGISTRY_*`` variables (``..._URL`` is the URL)."""
    env = os.environ if environ is None else environ
    return {
        name[len(ENV_PREFIX) :].lower().replace("_", "."): value
        for name, value in env.items()
        if name.startswith(ENV_PREFIX) and value
    }


class Registry:
    """An async client for one schema registry, with the registry's answers cached.

    Schemas by id never change, so they are cached for the process's life
    (confluent-kafka's client does that). Failures to reach the registry
    become ``SchemaRegistryUnavailable``.
    """

    def __init__(self, url: str, config: Mapping[str, str] | None = None) -> None:
        from confluent_kafka.schema_registry import AsyncSchemaRegistryClient

        if not url.startswith(("http://", "https://")):
            raise ConfigError(f"schema registry URL must start with http:// or https://; got {url!r}")
        conf = {"timeout": 10, "max.retries": 1, **dict(config or {}), "url": url}
        try:
            self.client: AsyncSchemaRegistryClient = AsyncSchemaRegistryClient(conf)
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"schema registry settings: {exc}") from exc
        self.url = url

    async def call(self, what: str, fn: Callable[[], Awaitable[T]]) -> T:
        """``await fn()``, its connection failures raised as ``SchemaRegistryUnavailable`` naming ``what``."""
        import httpx

        try:
            return await fn()
        except (httpx.TransportError, OSError) as exc:
            raise SchemaRegistryUnavailable(
                f"schema registry at {self.url} did not answer ({what}): {type(exc).__name__}: {exc}"
            ) from exc
        except Exception as exc:
            if _status(exc) in (401, 403):  # a consumer waits for credentials to be fixed, not dead-letters
                raise SchemaRegistryUnavailable(
                    f"schema registry at {self.url} refused the credentials ({what}, HTTP {_status(exc)}): {exc}"
                ) from exc
            if _status(exc) in (502, 503, 504):
                raise SchemaRegistryUnavailable(
                    f"schema registry at {self.url} is unavailable ({what}): {exc}"
                ) from exc
            raise

    async def schema(self, schema_id: int) -> Schema:
        return await self.call(f"schema id {schema_id}", lambda: self.client.get_schema(schema_id))

    async def latest(self, subject: str) -> RegisteredSchema | None:
        """The subject's latest version, or None when it has none."""
        try:
            return await self.call(f"latest {subject}", lambda: self.client.get_latest_version(subject))
        except Exception as exc:
            if _code(exc) in NOT_FOUND_CODES or _status(exc) == 404:
                return None
            raise

    async def versions(self, subject: str) -> list[int]:
        try:
            return await self.call(f"versions of {subject}", lambda: self.client.get_versions(subject))
        except Exception as exc:
            if _code(exc) in NOT_FOUND_CODES or _status(exc) == 404:
                return []
            raise

    async def version(self, subject: str, version: int | str) -> RegisteredSchema:
        return await self.call(f"{subject} version {version}", lambda: self.client.get_version(subject, version))

    async def subjects(self) -> list[str]:
        return await self.call("subjects", lambda: self.client.get_subjects())

    async def compatibility(self, subject: str) -> str | None:
        """The subject's own compatibility level, or None when it has none set."""
        try:
            level = await self.call(f"config of {subject}", lambda: self.client.get_compatibility(subject))
        except Exception as exc:
            if _code(exc) in (*NOT_FOUND_CODES, 40408) or _status(exc) == 404:
                return None
            raise
        return str(level).upper() if level else None

    async def set_compatibility(self, subject: str, level: str) -> None:
        await self.call(f"config of {subject}", lambda: self.client.set_compatibility(subject, level))

    async def is_compatible(self, subject: str, schema: Schema) -> bool:
        return await self.call(f"compatibility of {subject}", lambda: self.client.test_compatibility(subject, schema))

    async def register(self, subject: str, schema: Schema) -> int:
        """Register ``schema`` under ``subject`` (a no-op answer with its id when it is there already)."""
        return await self.call(f"register {subject}", lambda: self.client.register_schema(subject, schema))

    async def close(self) -> None:
        client: Any = self.client
        rest = getattr(client, "_rest_client", None)
        session = getattr(rest, "session", None)
        if session is not None:
            await session.aclose()


def _status(exc: BaseException) -> int | None:
    return getattr(exc, "http_status_code", None)


def _code(exc: BaseException) -> int | None:
    return getattr(exc, "error_code", None)
