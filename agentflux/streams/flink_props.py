"""Kafka client settings for Flink's (Java) Kafka connector, from our librdkafka-style settings.

librdkafka and the Java client name most options differently. Mapped here:
``bootstrap.servers``, ``security.protocol``, ``sasl.mechanism(s)``,
``sasl.username``/``sasl.password`` (into ``sasl.jaas.config`` for PLAIN and
SCRAM) and ``ssl.ca.location`` (a PEM truststore). Anything else must be given
in Java form through ``FlinkSettings.kafka_properties``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from agentflux.contract.errors import ConfigError
from agentflux.transport.settings import KafkaSettings

_LOGIN_MODULES = {
    "PLAIN": "org.apache.kafka.common.security.plain.PlainLoginModule",
    "SCRAM-SHA-256": "org.apache.kafka.common.security.scram.ScramLoginModule",
    "SCRAM-SHA-512": "org.apache.kafka.common.security.scram.ScramLoginModule",
}
_SECRET_WORDS = ("password", "jaas", "secret", "user-info")
PLACEHOLDER_BOOTSTRAP = "<bootstrap-servers>"


def java_properties(kafka: KafkaSettings | None, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Java Kafka client properties for ``kafka`` (bootstrap placeholder when None), plus ``extra``."""
    if kafka is None:
        return {"bootstrap.servers": PLACEHOLDER_BOOTSTRAP, **(extra or {})}
    rd = kafka.base_config()
    props = {"bootstrap.servers": rd["bootstrap.servers"]}
    if "security.protocol" in rd:
        props["security.protocol"] = rd["security.protocol"].upper()
    mechanism = rd.get("sasl.mechanism") or rd.get("sasl.mechanisms")
    if mechanism:
        props["sasl.mechanism"] = mechanism
    if "sasl.username" in rd:
        module = _LOGIN_MODULES.get((mechanism or "PLAIN").upper())
        if module is None:
            raise ConfigError(f"SASL mechanism {mechanism!r} has no Flink mapping: set sasl.jaas.config yourself")
        user, password = json.dumps(rd["sasl.username"]), json.dumps(rd.get("sasl.password", ""))
        props["sasl.jaas.config"] = f"{module} required username={user} password={password};"
    if "ssl.ca.location" in rd:
        props["ssl.truststore.type"] = "PEM"
        props["ssl.truststore.location"] = rd["ssl.ca.location"]
    props.update(extra or {})
    return props


def redacted(props: Mapping[str, str]) -> dict[str, str]:
    """``props`` with secrets replaced, for printing."""
    return {k: ("******" if any(w in k.lower() for w in _SECRET_WORDS) else v) for k, v in props.items()}
