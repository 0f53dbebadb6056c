"""Local infrastructure: the Apache Kafka jars, an embedded single-node KRaft broker and an embedded schema registry."""

from agentflux.local.broker import LocalBroker
from agentflux.local.jars import KAFKA_VERSION, ensure_kafka_jars, find_java
from agentflux.local.registry import LocalRegistry
from agentflux.local.registry_app import APICURIO_VERSION, ensure_registry_app
from agentflux.local.registry_java import LocalRegistryError, find_registry_java
from agentflux.local.registry_state import RegistryStatus, default_registry_dir, local_registry_url
from agentflux.local.state import BrokerStatus, default_data_dir, local_bootstrap

__all__ = [
    "APICURIO_VERSION",
    "KAFKA_VERSION",
    "BrokerStatus",
    "LocalBroker",
    "LocalRegistry",
    "LocalRegistryError",
    "RegistryStatus",
    "default_data_dir",
    "default_registry_dir",
    "ensure_kafka_jars",
    "ensure_registry_app",
    "find_java",
    "find_registry_java",
    "local_bootstrap",
    "local_registry_url",
]
