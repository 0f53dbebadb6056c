"""A field's ``default_factory`` is no default in the model's Avro schema: its value would differ per process."""

from __future__ import annotations

import datetime as dt
import json

from pydantic import BaseModel, Field

from agentflux.contract.schemas import avro_schema


def test_a_default_factory_gives_no_default_in_the_avro_schema() -> None:
    class Stamped(BaseModel):
        at: dt.datetime = Field(default_factory=lambda: dt.datetime.now(dt.UTC))
        note: str = "x"

    fields = {f["name"]: f for f in json.loads(avro_schema(Stamped))["fields"]}
    assert "default" not in fields["at"] and fields["note"]["default"] == "x"
