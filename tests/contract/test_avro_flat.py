"""Generated Avro readers and writers: fastavro's bytes, pydantic's models, and a precise error for bad bytes."""

from __future__ import annotations

import io
import struct
from enum import Enum
from typing import Any, Optional

import pytest
from fastavro import schemaless_reader, schemaless_writer
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from agentflux.contract.avro_flat import flat_reader, flat_writer
from agentflux.contract.payloads import _parse_avro
from agentflux.contract.schemas import schema_text

PREFIX = b"\x00\x00\x00\x00\x07"


class Every(BaseModel):
    """Each plain type, optional or not, with defaults."""

    text: str
    raw: bytes
    count: int
    ratio: float
    flag: bool
    note: Optional[str] = None  # noqa: UP045 - both spellings are the same core schema
    amount: int | None = None
    scale: float = 1.5
    maybe_ratio: float | None = None
    maybe_flag: bool | None = None


class Titled(BaseModel):
    model_config = ConfigDict(title="PriceChanged", frozen=True)
    product_id: str
    new_price: float


def schema(model: type[BaseModel]) -> Any:
    return _parse_avro(schema_text("avro", model))


def fastavro_bytes(model: type[BaseModel], obj: BaseModel) -> bytes:
    out = io.BytesIO()
    out.write(PREFIX)
    schemaless_writer(out, schema(model), obj.model_dump())
    return out.getvalue()


def validated(model: type[BaseModel], value: bytes) -> BaseModel:
    """What fastavro and pydantic's validation make of ``value``: the model the generated reader must equal."""
    body = io.BytesIO(value)
    body.seek(len(PREFIX))
    return model.model_validate(schemaless_reader(body, schema(model), None, False))


texts = st.text(max_size=200)  # beyond 63 UTF-8 bytes, a length takes two varint bytes
longs = st.integers(min_value=-(2**63), max_value=2**63 - 1)
doubles = st.floats(allow_nan=False)
every = st.builds(
    Every,
    text=texts,
    raw=st.binary(max_size=200),
    count=longs,
    ratio=doubles,
    flag=st.booleans(),
    note=st.none() | texts,
    amount=st.none() | longs,
    scale=doubles,
    maybe_ratio=st.none() | doubles,
    maybe_flag=st.none() | st.booleans(),
)


@settings(max_examples=300, deadline=None)
@given(every)
def test_a_record_is_written_as_fastavro_writes_it_and_read_back_as_pydantic_validates_it(obj: Every) -> None:
    write, read = flat_writer(schema(Every), Every, PREFIX), flat_reader(schema(Every), Every, len(PREFIX))
    assert write is not None and read is not None
    value = write(obj)
    assert value == fastavro_bytes(Every, obj)
    back, expected = read(value), validated(Every, value)
    assert back == expected == obj
    assert repr(back) == repr(expected)
    assert back.model_fields_set == expected.model_fields_set
    assert back.model_dump() == expected.model_dump()


def test_a_titled_frozen_model_reads_as_itself_and_stays_frozen() -> None:
    read = flat_reader(schema(Titled), Titled, len(PREFIX))
    assert read is not None
    back = read(fastavro_bytes(Titled, Titled(product_id="p1", new_price=9.5)))
    assert back == Titled(product_id="p1", new_price=9.5)
    with pytest.raises(Exception, match="frozen"):
        back.product_id = "p2"  # type: ignore[misc]


def test_a_null_branch_written_second_is_read_and_written_by_its_index() -> None:
    class Late(BaseModel):
        amount: int | None = None

    flipped = {"type": "record", "name": "Late", "fields": [{"name": "amount", "type": ["long", "null"]}]}
    parsed = _parse_avro(__import__("json").dumps(flipped))
    write, read = flat_writer(parsed, Late, b""), flat_reader(parsed, Late, 0)
    assert write is not None and read is not None
    for obj in (Late(amount=None), Late(amount=-3)):
        out = io.BytesIO()
        schemaless_writer(out, parsed, obj.model_dump())
        assert write(obj) == out.getvalue()
        assert read(out.getvalue()) == obj


class Constrained(BaseModel):
    name: str = Field(max_length=3)


class Checked(BaseModel):
    name: str

    @field_validator("name")
    @classmethod
    def upper(cls, value: str) -> str:
        return value.upper()


class Whole(BaseModel):
    name: str

    @model_validator(mode="after")
    def check(self) -> Whole:
        return self


class Nested(BaseModel):
    inner: Titled


class Listed(BaseModel):
    names: list[str]


class Colour(Enum):
    RED = "red"


class Enumerated(BaseModel):
    colour: Colour


class Aliased(BaseModel):
    name: str = Field(alias="Name")


class Stripped(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True)
    name: str


class Private(BaseModel):
    name: str
    _seen: int = PrivateAttr(default=0)


class PostInit(BaseModel):
    name: str

    def model_post_init(self, context: Any) -> None:
        pass


@pytest.mark.parametrize(
    "model", [Constrained, Checked, Whole, Nested, Listed, Enumerated, Aliased, Stripped, Private, PostInit]
)
def test_a_model_whose_validation_does_more_than_copy_gets_no_generated_reader_or_writer(
    model: type[BaseModel],
) -> None:
    try:
        found = schema(model)
    except Exception:  # no Avro schema for it at all: nothing to compare
        found = {"type": "record", "name": model.__name__, "fields": [{"name": "name", "type": "string"}]}
    assert flat_reader(found, model, 0) is None
    assert flat_writer(found, model, b"") is None


def test_a_schema_that_is_not_the_models_own_gets_none() -> None:
    other = {"type": "record", "name": "X", "fields": [{"name": "product_id", "type": "long"}]}
    assert flat_reader(other, Titled, 0) is None  # a field missing, and a type the model's field does not hold
    swapped = {
        "type": "record",
        "name": "X",
        "fields": [{"name": "product_id", "type": "string"}, {"name": "new_price", "type": "string"}],
    }
    assert flat_reader(swapped, Titled, 0) is None
    assert flat_reader({"type": "array", "items": "string"}, Titled, 0) is None


def good_value() -> bytes:
    return fastavro_bytes(Every, Every(text="héllo", raw=b"\x00", count=300, ratio=0.5, flag=True, note="n", amount=7))


@pytest.mark.parametrize("cut", range(len(PREFIX), len(good_value())))
def test_a_record_cut_short_anywhere_is_an_error_of_the_bytes_ending(cut: int) -> None:
    read = flat_reader(schema(Every), Every, len(PREFIX))
    assert read is not None
    with pytest.raises((EOFError, IndexError, struct.error)):
        read(good_value()[:cut])


def test_a_negative_length_an_unknown_branch_and_bad_utf8_are_errors_that_say_so() -> None:
    class Text(BaseModel):
        text: str
        note: str | None = None

    read = flat_reader(schema(Text), Text, 0)
    assert read is not None
    with pytest.raises(ValueError, match="negative length -1"):
        read(b"\x01")
    with pytest.raises(ValueError, match="union branch 2 is out of range"):
        read(b"\x04ab\x04")
    with pytest.raises(UnicodeDecodeError):
        read(b"\x04\xff\xfe\x00")
    assert read(b"\x04ab\x00") == Text(text="ab")


def test_a_value_the_schema_cannot_carry_is_refused_when_written() -> None:
    write = flat_writer(schema(Every), Every, b"")
    assert write is not None
    plain = {"raw": b"", "ratio": 0.0, "flag": False, "note": None, "amount": None, "maybe_ratio": None}
    too_big = Every.model_construct(text="", count=2**63, maybe_flag=None, **plain)
    with pytest.raises(OverflowError, match="out of range for an Avro long"):
        write(too_big)
    wrong = Every.model_construct(text=5, count=1, maybe_flag=None, **plain)
    with pytest.raises(AttributeError):
        write(wrong)
