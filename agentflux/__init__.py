"""agentflux: multi-agent AI systems over Apache Kafka.

The public surface is re-exported here; everything else is implementation.
"""

from agentflux.client import AgentClient
from agentflux.contract.envelope import Envelope
from agentflux.contract.errors import (
    AgentfluxError,
    BrokerUnavailable,
    CommitFailed,
    ConfigError,
    ConsumerFailed,
    EnvelopeError,
    HandlerTimeout,
    InvalidMessage,
    LifecycleError,
    MessageTooLarge,
    PayloadDecodeError,
    PublishError,
    Reject,
    Retry,
    SchemaIncompatible,
    SchemaRegistryUnavailable,
    TaskCanceled,
    TaskError,
    TaskFailed,
    TaskRejected,
    TaskTimeout,
    ToolError,
    TopicNameError,
    TransportError,
    UnknownSkill,
)
from agentflux.contract.tasks import TaskPhase, TaskReport
from agentflux.contract.topics import TopicSpec
from agentflux.runtime.context import Context
from agentflux.runtime.declarations import Agent, AgentApp
from agentflux.runtime.handlers import Handler, Skill
from agentflux.runtime.retry import RetryPolicy
from agentflux.runtime.runner import AppRunner
from agentflux.transport.settings import KafkaSettings

__all__ = [
    "Agent",
    "AgentApp",
    "AgentClient",
    "AgentfluxError",
    "AppRunner",
    "BrokerUnavailable",
    "CommitFailed",
    "ConfigError",
    "ConsumerFailed",
    "Context",
    "Envelope",
    "EnvelopeError",
    "Handler",
    "HandlerTimeout",
    "InvalidMessage",
    "KafkaSettings",
    "LifecycleError",
    "MessageTooLarge",
    "PayloadDecodeError",
    "PublishError",
    "Reject",
    "Retry",
    "RetryPolicy",
    "SchemaIncompatible",
    "SchemaRegistryUnavailable",
    "Skill",
    "TaskCanceled",
    "TaskError",
    "TaskFailed",
    "TaskPhase",
    "TaskRejected",
    "TaskReport",
    "TaskTimeout",
    "ToolError",
    "TopicNameError",
    "TopicSpec",
    "TransportError",
    "UnknownSkill",
]
