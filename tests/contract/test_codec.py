import pytest
from pydantic import BaseModel

from agentflux.contract.codec import check_payload_type, decode, encode
from agentflux.contract.errors import ConfigError, PayloadDecodeError


class Price(BaseModel):
    product_id: str
    price: float


def test_model_round_trip() -> None:
    assert decode(encode(Price(product_id="p1", price=9.5)), Price) == Price(product_id="p1", price=9.5)


def test_raw_types() -> None:
    assert decode(b'{"a": 1}', dict) == {"a": 1}
    assert decode(b"\x00\x01", bytes) == b"\x00\x01"
    assert decode("héllo".encode(), str) == "héllo"
    assert encode({"a": [1, 2]}) == b'{"a":[1,2]}'


def test_not_json_is_named() -> None:
    with pytest.raises(PayloadDecodeError, match="not valid JSON"):
        decode(b"<html>", Price)
    with pytest.raises(PayloadDecodeError, match="not valid JSON"):
        decode(b"{oops", dict)


def test_model_mismatch_names_the_fields() -> None:
    with pytest.raises(PayloadDecodeError, match=r"does not match Price: price: Input should be a valid number"):
        decode(b'{"product_id": "p1", "price": "cheap"}', Price)
    with pytest.raises(PayloadDecodeError, match="product_id: Field required"):
        decode(b'{"price": 1}', Price)


def test_wrong_json_shape_and_tombstone() -> None:
    with pytest.raises(PayloadDecodeError, match="JSON list, expected dict"):
        decode(b"[1]", dict)
    with pytest.raises(PayloadDecodeError, match="tombstone"):
        decode(None, Price)


def test_unsupported_payload_type() -> None:
    with pytest.raises(ConfigError, match="pydantic BaseModel subclass"):
        check_payload_type(int, "handler x")
