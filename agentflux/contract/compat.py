"""Compatibility of payload models with the schemas a registry holds, and why a change breaks it.

The registry decides: ``check`` asks it whether a model's schema is compatible
with the subject's registered versions under the subject's rule. When it says
no, ``explain`` names the fields and the rule they break, from the two schemas:

* BACKWARD (the default): consumers on the new schema must read records
  written with the old one, so a field added to the new schema needs a
  default, and a field's type may only change to one the old type promotes to
  (Avro: int → long → float → double, string ↔ bytes).
* FORWARD: consumers on the old schema must read the new records, so a field
  removed from the new schema must have had a default in the old one.
* FULL: both. The ``_TRANSITIVE`` variants check every version, not just the latest.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel

from agentflux.contract.registry import Registry
from agentflux.contract.schemas import SCHEMA_TYPES, TopicFormat, record_name, schema_text

Outcome = Literal["new", "compatible", "incompatible"]
_PROMOTIONS = {
    "int": {"long", "float", "double"},
    "long": {"float", "double"},
    "float": {"double"},
    "string": {"bytes"},
    "bytes": {"string"},
}


@dataclass(frozen=True)
class Verdict:
    """What the registry says of one model on one topic."""

    topic: str
    subject: str
    model: str
    outcome: Outcome
    rule: str
    against: int | None = None  # the version it was compared with (the latest)
    problems: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.outcome != "incompatible"

    def message(self) -> str:
        if self.outcome == "new":
            return f"{self.topic}: {self.model} is new under subject {self.subject} (rule {self.rule})"
        if self.outcome == "compatible":
            return f"{self.topic}: {self.model} is compatible with {self.subject} version {self.against} ({self.rule})"
        why = "; ".join(self.problems) or "the registry refused it without a reason agentflux can name"
        return (
            f"{self.topic}: {self.model} breaks {self.rule} compatibility with {self.subject} "
            f"version {self.against}: {why}"
        )


async def check(registry: Registry, fmt: TopicFormat, model: type[BaseModel]) -> Verdict:
    """Compare ``model``'s schema with the latest version of its subject on ``fmt.topic``."""
    from confluent_kafka.schema_registry import Schema

    subject = fmt.subject(model)
    rule = await registry.compatibility(subject) or fmt.compatibility
    latest = await registry.latest(subject)
    name = record_name(model)
    if latest is None:
        return Verdict(fmt.topic, subject, name, "new", fmt.compatibility)
    text = schema_text(fmt.format, model)
    if await registry.is_compatible(subject, Schema(text, SCHEMA_TYPES[fmt.format])):
        return Verdict(fmt.topic, subject, name, "compatible", rule, latest.version)
    old = latest.schema.schema_str or "{}"
    problems = explain(fmt.format, rule, old, text)
    return Verdict(fmt.topic, subject, name, "incompatible", rule, latest.version, tuple(problems))


def explain(fmt: str, rule: str, old: str, new: str) -> list[str]:
    """Why ``new`` breaks ``rule`` against ``old``: one sentence per field."""
    old_fields, new_fields = _fields(fmt, old), _fields(fmt, new)
    problems: list[str] = []
    backward = rule.startswith(("BACKWARD", "FULL"))
    forward = rule.startswith(("FORWARD", "FULL"))
    for name, field in new_fields.items():
        before = old_fields.get(name)
        if before is None:
            if backward and not field.optional:
                problems.append(
                    f"field '{name}' was added without a default, so records written before it cannot be read "
                    f"({rule}: give it a default)"
                )
        elif not _readable(before.type, field.type) and backward:
            problems.append(
                f"field '{name}' changed type from {_show(before.type)} to {_show(field.type)}, "
                f"which cannot read the old records ({rule})"
            )
        elif not _readable(field.type, before.type) and forward:
            problems.append(
                f"field '{name}' changed type from {_show(before.type)} to {_show(field.type)}, "
                f"which consumers on the old schema cannot read ({rule})"
            )
    for name, field in old_fields.items():
        if name not in new_fields and forward and not field.optional:
            problems.append(
                f"field '{name}' was removed, and consumers on the old schema have no default for it ({rule})"
            )
    return problems


@dataclass(frozen=True)
class _Field:
    type: Any
    optional: bool  # has a default (Avro) or is not required (JSON Schema)


def _fields(fmt: str, text: str) -> dict[str, _Field]:
    try:
        schema = json.loads(text)
    except ValueError:
        return {}
    if not isinstance(schema, dict):
        return {}
    if fmt == "avro":
        return {
            f["name"]: _Field(f.get("type"), "default" in f)
            for f in schema.get("fields", [])
            if isinstance(f, dict) and "name" in f
        }
    required = set(schema.get("required", []))
    return {
        name: _Field(_json_type(spec), name not in required) for name, spec in (schema.get("properties") or {}).items()
    }


def _json_type(spec: Any) -> Any:
    if not isinstance(spec, dict):
        return spec
    if "anyOf" in spec:
        return [_json_type(s) for s in spec["anyOf"]]
    return spec.get("type", spec.get("$ref"))


def _names(tp: Any) -> set[str]:
    if isinstance(tp, list):
        return {n for t in tp for n in _names(t)}
    if isinstance(tp, dict):
        return {str(tp.get("name") or tp.get("type"))}
    return {str(tp)}


def _readable(writer: Any, reader: Any) -> bool:
    """Whether values of type ``writer`` can be read as ``reader`` (Avro's resolution rules, roughly)."""
    readable = _names(reader)
    for name in _names(writer):
        if name not in readable and not (_PROMOTIONS.get(name, set()) & readable):
            if name == "integer" and "number" in readable:  # JSON Schema: every integer is a number
                continue
            return False
    return True


def _show(tp: Any) -> str:
    names = sorted(_names(tp))
    return names[0] if len(names) == 1 else " | ".join(names)


def field_changes(fmt: str, old: str, new: str) -> list[str]:
    """The field-level changes from ``old`` to ``new``: ``+`` added, ``-`` removed, ``~`` changed."""
    old_fields, new_fields = _fields(fmt, old), _fields(fmt, new)
    changes = []
    for name, field in new_fields.items():
        before = old_fields.get(name)
        if before is None:
            changes.append(f"+ {name}: {_show(field.type)}{'' if field.optional else ' (no default)'}")
        elif _names(before.type) != _names(field.type) or before.optional != field.optional:
            was = f"{_show(before.type)}{'' if before.optional else ' (no default)'}"
            now = f"{_show(field.type)}{'' if field.optional else ' (no default)'}"
            changes.append(f"~ {name}: {was} → {now}")
    changes.extend(f"- {name}: {_show(f.type)}" for name, f in old_fields.items() if name not in new_fields)
    return changes
