"""Remote A2A agents: fetch a card by URL, then run its skills over HTTP with the official client.

``fetch_card`` resolves ``{url}/.well-known/agent-card.json`` (and verifies it
when a trust policy is given). ``RemoteSkills.delegate`` sends one message to
the remote agent (the input as a data part, the skill named in the message's
metadata as ``skill``, the correlation id as ``correlation_id``), waits for the
task to end and returns its result: the first data part of its artifacts (or
of the direct message it answered with), else their text. A remote task that
ends failed, rejected, canceled or asking for input raises ``TaskFailed`` /
``TaskRejected``; no answer in time raises ``TaskTimeout``.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
from a2a.client import A2ACardResolver, ClientConfig, ClientFactory
from a2a.client.errors import A2AClientError
from a2a.helpers import new_data_part
from a2a.types import AgentCard, Message, Part, Role, SendMessageRequest, Task
from a2a.types import TaskState as A2AState
from a2a.utils.constants import TransportProtocol
from a2a.utils.errors import A2AError
from google.protobuf.json_format import MessageToDict
from pydantic import BaseModel

from agentflux.a2a.signing import TrustPolicy
from agentflux.contract.errors import ConfigError, TaskFailed, TaskRejected, TaskTimeout

_ENDED = {
    A2AState.TASK_STATE_FAILED: "Failed",
    A2AState.TASK_STATE_CANCELED: "Canceled",
    A2AState.TASK_STATE_INPUT_REQUIRED: "InputRequired",
    A2AState.TASK_STATE_AUTH_REQUIRED: "AuthRequired",
}


async def fetch_card(url: str, *, http: httpx.AsyncClient | None = None, trust: TrustPolicy | None = None) -> AgentCard:
    """The card at ``url`` (an agent's base URL); ConfigError when it cannot be fetched, UntrustedCard when refused."""
    own = http is None
    client = http or httpx.AsyncClient(timeout=10)
    try:
        card = await A2ACardResolver(client, url).get_agent_card()
    except A2AClientError as exc:
        raise ConfigError(f"cannot fetch the agent card of {url}: {exc}") from exc
    finally:
        if own:
            await client.aclose()
    if trust is not None:
        trust.verify(card)
    return card


class RemoteSkills:
    """Runs skills of remote agents over their HTTP bindings. Safe for concurrent use."""

    def __init__(self) -> None:
        self._http = httpx.AsyncClient(timeout=None)
        config = ClientConfig(
            streaming=False,
            httpx_client=self._http,
            supported_protocol_bindings=[TransportProtocol.JSONRPC, TransportProtocol.HTTP_JSON],
        )
        self._factory = ClientFactory(config)

    async def delegate(self, card: AgentCard, skill: str, payload: Any, *, correlation_id: str, timeout: float) -> Any:
        data = payload.model_dump(mode="json") if isinstance(payload, BaseModel) else payload
        message = Message(role=Role.ROLE_USER, message_id=str(uuid.uuid4()), parts=[new_data_part(data)])
        message.metadata.update({"skill": skill, "correlation_id": correlation_id})
        client = self._factory.create(card)
        task_id = message.message_id
        try:
            async with asyncio.timeout(timeout):
                last = None
                async for response in client.send_message(SendMessageRequest(message=message)):
                    last = response
        except TimeoutError:
            raise TaskTimeout(skill, task_id, timeout) from None
        except A2AError as exc:
            raise TaskFailed(skill, task_id, type(exc).__name__, str(exc)) from exc
        finally:
            await client.close()
        if last is None:
            raise TaskFailed(skill, task_id, "NoResponse", f"agent {card.name!r} sent no response")
        if last.HasField("message"):
            return _result(list(last.message.parts))
        return _outcome(skill, last.task)

    async def close(self) -> None:
        await self._http.aclose()


def _outcome(skill: str, task: Task) -> Any:
    state = task.status.state
    reason = "\n".join(p.text for p in task.status.message.parts if p.HasField("text"))
    if state == A2AState.TASK_STATE_COMPLETED:
        return _result([p for a in task.artifacts for p in a.parts])
    if state == A2AState.TASK_STATE_REJECTED:
        raise TaskRejected(skill, task.id, "Rejected", reason or "rejected by the remote agent")
    kind = _ENDED.get(state, A2AState.Name(state))
    raise TaskFailed(skill, task.id, kind, reason or f"the remote task ended in {A2AState.Name(state)}")


def _result(parts: list[Part]) -> Any:
    for part in parts:
        if part.HasField("data"):
            return MessageToDict(part.data)
    return "\n".join(p.text for p in parts if p.HasField("text"))
