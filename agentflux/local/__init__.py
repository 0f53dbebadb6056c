"""Local infrastructure: the Apache Kafka jars and an embedded single-node KRaft broker."""

from agentflux.local.broker import LocalBroker
from agentflux.local.jars import KAFKA_VERSION, ensure_kafka_jars, find_java
from agentflux.local.state import BrokerStatus, default_data_dir, local_bootstrap

__all__ = [
    "KAFKA_VERSION",
    "BrokerStatus",
    "LocalBroker",
    "default_data_dir",
    "ensure_kafka_jars",
    "find_java",
    "local_bootstrap",
]
