"""Between A2A messages and skill inputs and results.

A message becomes a skill's input like this, first match wins:

1. its first **data part** is the input;
2. else its text parts, joined, when they hold **JSON**;
3. else the text itself, as ``{field: text}``, when the input schema has
   exactly one property and it is a string (a "plain text" skill).

Anything else is ``InputError`` (the gateway answers ``InvalidParamsError``).
A skill's result becomes one artifact named ``result`` with a data part. A
skill whose output model is ``Reply`` answers with a direct ``Message``
instead of a task (``Reply.text`` as a text part, ``Reply.data`` as a data part).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from a2a.helpers import new_data_part, new_text_part
from a2a.types import Artifact, Message, Part, Role
from google.protobuf.json_format import MessageToDict
from pydantic import BaseModel

REPLY_MODES = ("text/plain", "application/json")
RESULT_ARTIFACT = "result"


class InputError(ValueError):
    """A message that cannot become the skill's input."""


class Reply(BaseModel):
    """The output model of a skill that answers with a direct message rather than a task."""

    text: str | None = None
    data: Any = None


def is_reply_model(model: type[BaseModel]) -> bool:
    return issubclass(model, Reply)


def text_field(schema: Mapping[str, Any]) -> str | None:
    """The one string property of an input schema, or None when it has another shape."""
    props = schema.get("properties")
    if not isinstance(props, Mapping) or len(props) != 1:
        return None
    ((name, prop),) = props.items()
    return name if isinstance(prop, Mapping) and prop.get("type") == "string" else None


def message_input(message: Message, schema: Mapping[str, Any] | None) -> Any:
    """The skill input a message carries (see the module docstring), or InputError."""
    for part in message.parts:
        if part.HasField("data"):
            return MessageToDict(part.data)
    text = "\n".join(p.text for p in message.parts if p.HasField("text"))
    if not text.strip():
        raise InputError("the message has no data part and no text: nothing to use as the skill's input")
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        pass
    field = text_field(schema or {})
    if field is None:
        raise InputError(
            "the message's text is not JSON, and the skill's input is not a single string field: "
            "send the input as a data part or as JSON text"
        )
    return {field: text}


def message_text(message: Message | None) -> str:
    return "" if message is None else "\n".join(p.text for p in message.parts if p.HasField("text"))


def result_artifact(result: Any, *, artifact_id: str = RESULT_ARTIFACT) -> Artifact:
    """The artifact a completed skill's result becomes: one data part."""
    return Artifact(artifact_id=artifact_id, name=RESULT_ARTIFACT, parts=[new_data_part(result)])


def reply_message(result: Any, *, task_id: str | None, context_id: str | None, message_id: str) -> Message:
    """The direct message a ``Reply`` result becomes (parts: its text, then its data)."""
    data = result if isinstance(result, Mapping) else {"data": result}
    parts: list[Part] = []
    if data.get("text") is not None:
        parts.append(new_text_part(str(data["text"])))
    if data.get("data") is not None:
        parts.append(new_data_part(data["data"]))
    if not parts:
        parts.append(new_text_part(""))
    return Message(role=Role.ROLE_AGENT, message_id=message_id, task_id=task_id, context_id=context_id, parts=parts)


def agent_text(text: str, *, task_id: str, context_id: str, message_id: str) -> Message:
    """An agent message with one text part (status messages, reasons, questions)."""
    return Message(
        role=Role.ROLE_AGENT, message_id=message_id, task_id=task_id, context_id=context_id, parts=[new_text_part(text)]
    )
