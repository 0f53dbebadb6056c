"""The fixture stream with bad records among the good ones, for the dead-letter tests of both engines.

Each bad record carries a header of its own, which its dead letter must
keep, and (where it has a time) a time far ahead of the stream: should an
engine read that time anyway, its watermark would jump and close windows
early, and the windows would differ from the reference.
"""

from __future__ import annotations

import json

from pydantic import ValidationError
from streams_fixture import Reading, at, encoded

Record = tuple[bytes | None, bytes | None, list[tuple[str, bytes]]]
FAR = at(1000).isoformat().replace("+00:00", "Z")


def _json(**fields: object) -> bytes:
    return json.dumps(fields).encode()


# (position in the stream, key, value, what the dead letter's dlq_error_type and dlq_error_message say)
BAD: list[tuple[int, bytes | None, bytes | None, str, str]] = [
    (2, b"m1", b"not json", "PayloadDecodeError", "value is not valid JSON"),
    (4, b"m2", _json(machine_id="m2", ts=FAR), "PayloadDecodeError", 'field "v" is missing or null'),
    (6, b"m3", _json(machine_id="m3", ts=FAR, v="high"), "PayloadDecodeError", 'field "v" is not a number'),
    (9, b"other", _json(machine_id="m1", ts=FAR, v=1.0), "InvalidMessage",
     'record key "other" is not its key field\'s value "m1"'),
    (11, None, _json(machine_id="m2", ts=FAR, v=1.0), "InvalidMessage",
     'record has no key; its key field\'s value is "m2"'),
    (13, b"m3", _json(machine_id="m3", ts="yesterday", v=1.0), "PayloadDecodeError",
     'field "ts" is not an RFC 3339 date and time'),
    (15, b"m1", b"[1, 2]", "PayloadDecodeError", "value is not a JSON object"),
    (16, b"m2", b'{"machine_id": "m2", "ts": "\xff"}', "PayloadDecodeError", "value is not valid JSON"),
    (17, b"m3", None, "PayloadDecodeError", "record has no value (a tombstone): there is no reading to window"),
]  # fmt: skip
# Good records in unusual spellings, which both engines must window: numeric text, an offset, a space.
ODD: list[tuple[int, bytes, bytes]] = [
    (3, b"m2", b'{"v": "2.5", "machine_id": "m2", "ts": "2023-11-14 22:13:21.5Z"}'),
    (8, b"m3", b'{"machine_id": "m3", "ts": "2023-11-14T23:13:27.250+01:00", "v": 3, "extra": [1, {"a": null}]}'),
]


def stream() -> list[Record]:
    """The fixture's records with the odd and the bad ones inserted; bad ones carry ``("case", b"<n>")``."""
    records: list[Record] = [(k, v, []) for k, v in encoded()]
    inserts = [(pos, key, value, [("case", str(n).encode())]) for n, (pos, key, value, *_) in enumerate(BAD)]
    inserts += [(pos, key, value, []) for pos, key, value in ODD]
    for pos, key, value, headers in sorted(inserts, key=lambda r: r[0], reverse=True):
        records.insert(pos, (key, value, headers))
    return records


def readings_kept(records: list[Record]) -> list[Reading]:
    """The readings the embedded engine windows: those that validate and are keyed by their machine."""
    kept = []
    for key, value, _headers in records:
        try:
            reading = Reading.model_validate_json(value or b"")
        except ValidationError:
            continue
        if key == reading.machine_id.encode():
            kept.append(reading)
    return kept
