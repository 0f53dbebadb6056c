"""agentflux: multi-agent AI systems over Apache Kafka.

The public surface is re-exported here; everything else is implementation.
"""

from agentflux.contract.envelope import Envelope
from agentflux.contract.errors import (
    AgentfluxError,
    BrokerUnavailable,
    ConfigError,
    EnvelopeError,
    InvalidMessage,
    LifecycleError,
    MessageTooLarge,
    PayloadDecodeError,
    PublishError,
    Reject,
    Retry,
    TaskError,
    TaskFailed,
    TaskRejected,
    TaskTimeout,
    ToolError,
    TopicNameError,
    TransportError,
    UnknownSkill,
)
from agentflux.contract.tasks import TaskState, TaskStatus
from agentflux.contract.topics import TopicSpec
from agentflux.patterns.client import AgentClient
from agentflux.runtime.context import Context
from agentflux.runtime.declarations import Agent, AgentApp, Handler
from agentflux.runtime.retry import RetryPolicy
from agentflux.runtime.runner import AppRunner
from agentflux.runtime.skills import Skill
from agentflux.transport.settings import KafkaSettings

__all__ = [
    "Agent",
    "AgentApp",
    "AgentClient",
    "AgentfluxError",
    "AppRunner",
    "BrokerUnavailable",
    "ConfigError",
    "Context",
    "Envelope",
    "EnvelopeError",
    "Handler",
    "InvalidMessage",
    "KafkaSettings",
    "LifecycleError",
    "MessageTooLarge",
    "PayloadDecodeError",
    "PublishError",
    "Reject",
    "Retry",
    "RetryPolicy",
    "Skill",
    "TaskError",
    "TaskFailed",
    "TaskRejected",
    "TaskState",
    "TaskStatus",
    "TaskTimeout",
    "ToolError",
    "TopicNameError",
    "TopicSpec",
    "TransportError",
    "UnknownSkill",
]
