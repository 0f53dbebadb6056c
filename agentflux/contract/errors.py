"""The agentflux exception tree.

Every error agentflux raises derives from one root, so callers can catch
``AgentfluxError`` alone. Errors that come from a library (confluent-kafka,
httpx, mcp) are translated at the boundary with ``raise ... from exc``.

::

    AgentfluxError
    ├── ConfigError (ValueError)            bad settings or declarations
    │   ├── TopicNameError                  a topic outside the topic contract
    │   └── SchemaIncompatible              a model the registry's compatibility rule refuses
    ├── LocalKafkaError (RuntimeError)      the embedded broker cannot be fetched or run
    ├── TransportError                      Kafka client failures
    │   ├── BrokerUnavailable               no broker answers at the bootstrap address
    │   ├── PublishError                    the broker refused or lost a record
    │   ├── MessageTooLarge (ValueError)    a value over the size limit
    │   ├── CommitFailed                    an offset commit did not go through (retried)
    │   └── ConsumerFailed                  a consumer cannot go on (fatal); the runtime rejoins
    ├── InvalidMessage (ValueError)         a record that can never be handled (permanent)
    │   ├── PayloadDecodeError              not valid JSON / not the declared model
    │   └── EnvelopeError                   malformed CloudEvents or trace headers
    ├── SchemaRegistryUnavailable           the schema registry did not answer (transient)
    ├── HandlerOutcome                      control flow raised by handlers
    │   ├── Retry                           try again later (transient)
    │   └── Reject                          never retry; dead-letter now (permanent)
    ├── HandlerTimeout (TimeoutError)       a handler attempt ran past its timeout and was cancelled
    ├── ToolError                           an MCP tool call failed
    ├── TaskError                           a delegated task did not produce a result
    │   ├── TaskFailed                      the worker reported an error
    │   │   ├── TaskRejected                the worker refused the task without running it
    │   │   └── TaskCanceled                the task was cancelled (CancelTask) before it finished
    │   ├── TaskTimeout                     no result within the timeout
    │   └── UnknownSkill                    nobody offers the skill
    └── LifecycleError (RuntimeError)       an object used before start or after close

Transience: an exception whose ``transient`` attribute is true is retried with
backoff; ``transient = False`` sends the record straight to the dead-letter
topic. Exceptions without the attribute are retried until the budget is spent.
"""

from __future__ import annotations


class AgentfluxError(Exception):
    """Root of every error raised by agentflux."""

    transient: bool | None = None


class ConfigError(AgentfluxError, ValueError):
    """Settings or declarations that cannot work."""

    transient = False


class TopicNameError(ConfigError):
    """A topic name outside the topic contract."""


class SchemaIncompatible(ConfigError):
    """A payload model breaks its subject's compatibility rule; the message names topic, field and rule."""


class SchemaRegistryUnavailable(AgentfluxError):
    """The schema registry did not answer. A consumer waits for it; a producer cannot start without it."""

    transient = True


class LocalKafkaError(AgentfluxError, RuntimeError):
    """The embedded Kafka could not be fetched, formatted or started."""


class TransportError(AgentfluxError):
    """A Kafka client operation failed."""

    transient = True


class BrokerUnavailable(TransportError):
    """No broker answered at the bootstrap address."""


class PublishError(TransportError):
    """The broker did not acknowledge a record."""


class MessageTooLarge(TransportError, ValueError):
    """A record value is larger than the configured limit."""

    transient = False


class CommitFailed(TransportError):
    """An offset commit did not go through (no coordinator, broker down). The next commit retries it."""


class ConsumerFailed(TransportError):
    """A consumer hit a fatal error (for example a fenced static member) and cannot be used again.

    The runtime closes it and joins the group with a new one; records it had not
    committed are delivered again.
    """

    transient = False


class InvalidMessage(AgentfluxError, ValueError):
    """A record that cannot be handled however often it is retried."""

    transient = False


class PayloadDecodeError(InvalidMessage):
    """The value is not valid JSON, or does not match the declared model."""


class EnvelopeError(InvalidMessage):
    """A CloudEvents or W3C trace-context header is malformed."""


class HandlerOutcome(AgentfluxError):
    """Control flow a handler raises to choose its record's outcome."""


class Retry(HandlerOutcome):
    """Retry this record after ``delay`` seconds (or the policy's backoff)."""

    transient = True

    def __init__(self, reason: str = "handler asked for a retry", *, delay: float | None = None) -> None:
        super().__init__(reason)
        self.delay = delay


class Reject(HandlerOutcome):
    """Send this record to the dead-letter topic now, with ``reason``."""

    transient = False


class HandlerTimeout(AgentfluxError, TimeoutError):
    """A handler attempt did not finish within its timeout and was cancelled. Retried, then dead-lettered."""

    transient = True

    def __init__(self, handler: str, timeout: float) -> None:
        super().__init__(f"{handler} did not finish within {timeout:g}s and was cancelled")
        self.handler = handler
        self.timeout = timeout


class ToolError(AgentfluxError):
    """An MCP tool call failed. Names the server, the tool and the cause."""

    def __init__(self, server: str, tool: str | None, cause: str, *, transient: bool) -> None:
        where = f"{server}.{tool}" if tool else server
        super().__init__(f"MCP tool {where} failed: {cause}")
        self.server = server
        self.tool = tool
        self.cause = cause
        self.transient = transient


class TaskError(AgentfluxError):
    """A delegated task did not produce a result."""

    transient = False


class TaskFailed(TaskError):
    """The worker reported an error for the task."""

    def __init__(self, skill: str, task_id: str, error_type: str, error: str) -> None:
        super().__init__(f"task {task_id} for skill {skill!r} failed: {error_type}: {error}")
        self.skill = skill
        self.task_id = task_id
        self.error_type = error_type
        self.error = error


class TaskRejected(TaskFailed):
    """The worker refused the task without running it (its input did not match the skill's model)."""


class TaskCanceled(TaskFailed):
    """The task was cancelled (``CancelTask``, or its requester's cancellation) before it finished."""


class TaskTimeout(TaskError, TimeoutError):
    """No result arrived within the timeout."""

    transient = True

    def __init__(self, skill: str, task_id: str, timeout: float) -> None:
        super().__init__(f"task {task_id} for skill {skill!r} got no result within {timeout:g}s")
        self.skill = skill
        self.task_id = task_id
        self.timeout = timeout


class UnknownSkill(TaskError, LookupError):
    """No live agent offers the skill."""


class LifecycleError(AgentfluxError, RuntimeError):
    """An object was used before it was started or after it was closed."""
