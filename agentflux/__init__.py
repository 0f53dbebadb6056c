"""agentflux: multi-agent AI systems over Apache Kafka.

The public surface is re-exported here; everything else is implementation.
"""

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
    "Skill",
    "TaskCanceled",
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
