"""Straight-line Avro readers and writers for flat records of plain fields.

fastavro reads and writes any Avro schema, with a per-call cost that is most
of a small record's (a file object, the schema walk, a dict, then pydantic's
validation of that dict). Most event records are flat: strings, numbers,
booleans and bytes, some of them optional. For such a record, and a pydantic
model whose fields are exactly those types with nothing else to check (no
constraints, validators, aliases or custom config), this module generates one
Python function that reads the fields in order into the model, or writes the
model's fields in order, with no intermediate dict and no second validation:
decoding already produced exactly the types the model's fields hold, so
pydantic would only copy them.

``flat_reader`` and ``flat_writer`` return None for anything else (nested
records, arrays, maps, enums, logical types, a model with validators...), and
the caller keeps fastavro and pydantic's validation. The bytes are the same as
fastavro's (tests/schemas/test_avro_flat.py checks both ways, and the errors:
a record that ends early, a negative length, an unknown union branch, bytes
that are not UTF-8).
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Mapping
from typing import Any

from pydantic import BaseModel

Reader = Callable[[bytes], BaseModel]  # a whole record value, its first ``start`` bytes skipped
Writer = Callable[[BaseModel], bytes]

# pydantic core schema type -> the Avro types that carry it without loss
_CARRIES = {"str": ("string",), "bytes": ("bytes",), "int": ("long", "int"), "float": ("double", "float"),
            "bool": ("boolean",)}  # fmt: skip
_HARMLESS_CONFIG = {"title", "frozen"}  # model config keys that change nothing when a record is read
_LIMITS = {"long": 1 << 63, "int": 1 << 31}
_FIXED = {"double": "d", "float": "f", "boolean": "?"}  # Avro types of a fixed size: their struct codes
_DOUBLE, _FLOAT = struct.Struct("<d"), struct.Struct("<f")
_SMALL = tuple(bytes((n << 1,)) for n in range(64))  # the varint of every length below 64

Field = tuple[str, str, int]  # name, Avro type, index of the non-null branch of a ["null", T] union (-1: none)


def flat_reader(schema: Mapping[str, Any], model: type[BaseModel], start: int) -> Reader | None:
    """A reader of ``schema``'s records into ``model``, or None when either is not flat and plain."""
    fields = _fields(schema, model)
    if fields is None:
        return None
    var = {name: n for n, (name, _, _) in enumerate(fields)}  # the model's order, not the schema's, for __dict__
    scope: dict[str, Any] = {
        "_new": object.__new__,
        "_set": object.__setattr__,
        "_model": model,
        "_names": set(model.model_fields),
        "_fields_set": _slot("__pydantic_fields_set__"),
        "_extra": _slot("__pydantic_extra__"),
        "_private": _slot("__pydantic_private__"),
        "_double": _DOUBLE.unpack_from,  # a fixed-size value in a union
        "_float": _FLOAT.unpack_from,
    }
    lines = ["def read(buf):", f"    pos = {start}", "    end = len(buf)"]
    for run in _runs(fields):
        if run[0][1] in _FIXED and run[0][2] < 0:  # fixed-size fields in a row: one struct read
            layout = struct.Struct("<" + "".join(_FIXED[kind] for _, kind, _ in run))
            scope[f"_s{var[run[0][0]]}"] = layout.unpack_from
            names = "".join(f"v{var[name]}, " for name, _, _ in run)
            lines += [f"    {names}= _s{var[run[0][0]]}(buf, pos)", f"    pos += {layout.size}"]
        else:
            ((name, kind, branch),) = run
            lines += _read_field(f"v{var[name]}", kind, branch)
    lines += [
        "    if pos > end:",
        "        raise EOFError('the bytes end before the schema fields do')",
        "    obj = _new(_model)",
        "    _set(obj, '__dict__', {" + ", ".join(f"{name!r}: v{var[name]}" for name in model.model_fields) + "})",
        "    _fields_set(obj, _names.copy())",
        "    _extra(obj, None)",
        "    _private(obj, None)",
        "    return obj",
    ]
    return _compile(lines, scope, "read", model)


def flat_writer(schema: Mapping[str, Any], model: type[BaseModel], prefix: bytes) -> Writer | None:
    """A writer of ``model``'s instances as ``schema``'s records after ``prefix``, or None when not flat and plain."""
    fields = _fields(schema, model)
    if fields is None:
        return None
    lines = ["def write(obj):", "    d = obj.__dict__", "    out = [_prefix]"]
    scope: dict[str, Any] = {"_prefix": prefix, "_long": _long, "_int": _int, "_size": _size}
    scope.update(_double=_DOUBLE.pack, _float=_FLOAT.pack)  # a fixed-size value in a union
    for n, run in enumerate(_runs(fields)):
        name, kind, branch = run[0]
        if kind in _FIXED and branch < 0:  # fixed-size fields in a row: one struct write
            scope[f"_s{n}"] = struct.Struct("<" + "".join(_FIXED[kind] for _, kind, _ in run)).pack
            lines.append(f"    out.append(_s{n}(" + ", ".join(f"d[{name!r}]" for name, _, _ in run) + "))")
            continue
        lines.append(f"    v = d[{name!r}]")
        if branch < 0:
            lines += _write_value(kind, "    ")
        else:
            null, value = (b"\x00", b"\x02") if branch == 1 else (b"\x02", b"\x00")
            lines += [
                "    if v is None:",
                f"        out.append({null!r})",
                "    else:",
                f"        out.append({value!r})",
            ]
            lines += _write_value(kind, "        ")
    lines.append("    return b''.join(out)")
    return _compile(lines, scope, "write", model)


def _runs(fields: list[Field]) -> list[list[Field]]:
    """``fields`` in order, each fixed-size field (not in a union) grouped with the ones right after it."""
    out: list[list[Field]] = []
    for field in fields:
        fixed = field[1] in _FIXED and field[2] < 0
        if fixed and out and out[-1][-1][1] in _FIXED and out[-1][-1][2] < 0:
            out[-1].append(field)
        else:
            out.append([field])
    return out


def _slot(name: str) -> Callable[[Any, Any], None]:
    """The setter of a ``BaseModel`` slot (what ``model_construct`` sets), or ``object.__setattr__`` of it."""
    setter = getattr(getattr(BaseModel, name, None), "__set__", None)
    return setter if callable(setter) else (lambda obj, value: object.__setattr__(obj, name, value))


def _fields(schema: Mapping[str, Any], model: type[BaseModel]) -> list[Field] | None:
    """``schema``'s fields in order, when each is a plain type that ``model``'s same-named field holds as it is."""
    plain = _plain_fields(model)
    if plain is None or schema.get("type") != "record" or not isinstance(schema.get("fields"), list):
        return None
    out: list[Field] = []
    for field in schema["fields"]:
        name, avro = field.get("name"), field.get("type")
        if not isinstance(name, str) or name not in plain:
            return None
        core, nullable = plain[name]
        branch = -1
        if isinstance(avro, list):
            if not nullable or len(avro) != 2 or "null" not in avro:
                return None
            branch = 1 - avro.index("null")
            avro = avro[branch]
        elif nullable:  # the model takes None, which the schema cannot carry: not a pair
            return None
        if avro not in _CARRIES[core]:
            return None
        out.append((name, avro, branch))
    if len(out) != len(plain):
        return None
    return out


def _plain_fields(model: type[BaseModel]) -> dict[str, tuple[str, bool]] | None:
    """Field name -> (core type, takes None) when validating ``model`` would only copy values of those types."""
    core: Any = getattr(model, "__pydantic_core_schema__", None)
    if not isinstance(core, Mapping) or core.get("type") != "model" or core.get("cls") is not model:
        return None
    if core.get("custom_init") or core.get("root_model") or core.get("post_init") or model.__private_attributes__:
        return None
    if not set(core.get("config", {})) <= _HARMLESS_CONFIG:
        return None
    inner = core.get("schema", {})
    if inner.get("type") != "model-fields" or set(inner) - {"type", "fields", "model_name", "computed_fields"}:
        return None
    out: dict[str, tuple[str, bool]] = {}
    for name, field in inner.get("fields", {}).items():
        if field.get("type") != "model-field" or set(field) - {"type", "schema", "metadata"}:
            return None
        found = _plain_type(field["schema"])
        if found is None:
            return None
        out[name] = found
    return out if list(out) == list(model.model_fields) else None


def _plain_type(schema: Mapping[str, Any]) -> tuple[str, bool] | None:
    """(core type, takes None) for a field schema of a bare str/bytes/int/float/bool, optional and defaulted."""
    if schema.get("type") == "default" and set(schema) <= {"type", "schema", "default", "default_factory"}:
        schema = schema["schema"]
    nullable = schema.get("type") == "nullable" and set(schema) == {"type", "schema"}
    if nullable:
        schema = schema["schema"]
    if set(schema) != {"type"} or schema["type"] not in _CARRIES:
        return None
    return schema["type"], nullable


def _read_field(var: str, kind: str, branch: int) -> list[str]:
    if branch < 0:
        return _read_value(var, kind, "    ")
    return [
        *_varint("    "),
        f"    if n == {branch}:",
        *_read_value(var, kind, "        "),
        f"    elif n == {1 - branch}:",
        f"        {var} = None",
        "    else:",
        "        raise ValueError(f'union branch {n} is out of range (2 branches)')",
    ]


def _read_value(var: str, kind: str, pad: str) -> list[str]:
    if kind in ("double", "float"):
        size = 8 if kind == "double" else 4
        return [f"{pad}{var} = _{kind}(buf, pos)[0]", f"{pad}pos += {size}"]
    if kind == "boolean":
        return [f"{pad}{var} = buf[pos] != 0", f"{pad}pos += 1"]
    lines = _varint(pad)
    if kind in ("long", "int"):
        return [*lines, f"{pad}{var} = n"]
    take = "buf[pos:pos + n].decode()" if kind == "string" else "buf[pos:pos + n]"
    return [
        *lines,
        f"{pad}if n < 0:",
        f"{pad}    raise ValueError(f'negative length {{n}}')",
        f"{pad}if pos + n > end:",
        f"{pad}    raise EOFError('the bytes end before the schema fields do')",
        f"{pad}{var} = {take}",
        f"{pad}pos += n",
    ]


def _varint(pad: str) -> list[str]:
    """Lines that read a zigzag varint at ``pos`` into ``n`` (an IndexError when the bytes end first)."""
    return [
        f"{pad}n = buf[pos]",
        f"{pad}pos += 1",
        f"{pad}if n > 0x7F:",
        f"{pad}    n &= 0x7F",
        f"{pad}    shift = 7",
        f"{pad}    while True:",
        f"{pad}        b = buf[pos]",
        f"{pad}        pos += 1",
        f"{pad}        n |= (b & 0x7F) << shift",
        f"{pad}        if b < 0x80:",
        f"{pad}            break",
        f"{pad}        shift += 7",
        f"{pad}n = (n >> 1) ^ -(n & 1)",
    ]


def _write_value(kind: str, pad: str) -> list[str]:
    if kind in ("double", "float"):
        return [f"{pad}out.append(_{kind}(v))"]
    if kind == "boolean":
        return [f"{pad}out.append(b'\\x01' if v else b'\\x00')"]
    if kind == "long":
        return [f"{pad}out.append(_long(v))"]
    if kind == "int":
        return [f"{pad}out.append(_int(v))"]
    encoded = "v.encode()" if kind == "string" else "bytes(v)"
    return [f"{pad}e = {encoded}", f"{pad}out.append(_size(len(e)))", f"{pad}out.append(e)"]


def _size(n: int) -> bytes:
    return _SMALL[n] if n < 64 else _zigzag(n, _LIMITS["long"])


def _long(v: int) -> bytes:
    return _zigzag(v, _LIMITS["long"])


def _int(v: int) -> bytes:
    return _zigzag(v, _LIMITS["int"])


def _zigzag(v: int, limit: int) -> bytes:
    if not isinstance(v, int):
        raise TypeError(f"{v!r} is not an int")
    if not -limit <= v < limit:
        raise OverflowError(f"{v} is out of range for an Avro {'long' if limit == _LIMITS['long'] else 'int'}")
    n = (v << 1) ^ (v >> 63)
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _compile(lines: list[str], scope: dict[str, Any], name: str, model: type[BaseModel]) -> Callable[..., Any]:
    code = compile("\n".join(lines), f"<avro {name} of {model.__qualname__}>", "exec")
    exec(code, scope)  # the source is generated above, with field names as literals (repr)
    found: Callable[..., Any] = scope[name]
    return found
