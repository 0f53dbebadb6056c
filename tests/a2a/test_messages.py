"""Messages into skill inputs, results into artifacts and direct replies (fast tier)."""

from __future__ import annotations

import pytest
from a2a.helpers import new_data_part, new_text_part
from a2a.types import Message, Role
from google.protobuf.json_format import MessageToDict

from agentflux.a2a.messages import InputError, message_input, reply_message, result_artifact, text_field

ONE_STRING = {"properties": {"name": {"type": "string"}}, "required": ["name"]}
TWO_FIELDS = {"properties": {"name": {"type": "string"}, "n": {"type": "integer"}}}


def msg(*parts: object) -> Message:
    built = [new_text_part(p) if isinstance(p, str) else new_data_part(p) for p in parts]
    return Message(role=Role.ROLE_USER, message_id="m", parts=built)


def test_a_data_part_is_the_input_even_beside_text() -> None:
    assert message_input(msg("please", {"name": "Ada", "n": 2}), TWO_FIELDS) == {"name": "Ada", "n": 2.0}


def test_text_holding_json_is_the_input() -> None:
    assert message_input(msg('{"name": "Ada",', ' "n": 2}'), TWO_FIELDS) == {"name": "Ada", "n": 2}


def test_plain_text_fills_a_single_string_field_only() -> None:
    assert message_input(msg("Ada Lovelace"), ONE_STRING) == {"name": "Ada Lovelace"}
    assert text_field(ONE_STRING) == "name" and text_field(TWO_FIELDS) is None
    with pytest.raises(InputError, match="not JSON"):
        message_input(msg("Ada"), TWO_FIELDS)
    with pytest.raises(InputError, match="nothing to use"):
        message_input(msg(), ONE_STRING)


def test_results_become_a_data_artifact_or_a_direct_message() -> None:
    artifact = result_artifact({"total": 3})
    assert (artifact.artifact_id, artifact.name) == ("result", "result")
    assert MessageToDict(artifact.parts[0].data) == {"total": 3.0}
    reply = reply_message({"text": "hi", "data": {"a": 1}}, task_id=None, context_id="c", message_id="r")
    assert reply.role == Role.ROLE_AGENT and not reply.task_id and reply.context_id == "c"
    assert reply.parts[0].text == "hi" and MessageToDict(reply.parts[1].data) == {"a": 1.0}
