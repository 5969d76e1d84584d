"""Plain Python values <-> Cap'n Proto messages, driven by the Python type hints.

The interfaces in ``ipc.interfaces`` declare their arguments and results as
Python types; the schemas mirror them field for field (snake_case in Python,
camelCase on the wire). One pair of functions converts any such value, so no
interface needs conversion code of its own. The conventions are in
``common.capnp``. A value typed as an interface is a capability: an object
of ours travels as a server the peer can call, a peer's arrives as a proxy.
``timeout_s`` is the call deadline of the proxies that decoding creates.
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from collections.abc import Iterable, Mapping
from typing import Any

from ipc.capnp.schemas import is_interface

SCALARS = (bool, int, float)


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def optional_of(hint: Any) -> Any | None:
    """The ``X`` of ``X | None``, or None when ``hint`` is not optional."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        if len(args) == 1 and len(typing.get_args(hint)) == 2:
            return args[0]
    return None


@functools.cache
def dataclass_fields(cls: type) -> tuple[tuple[str, Any], ...]:
    hints = typing.get_type_hints(cls)
    return tuple((field.name, hints[field.name]) for field in dataclasses.fields(cls))


def encode_fields(
    fields: Iterable[tuple[str, Any]], values: Mapping[str, Any], timeout_s: float
) -> dict[str, Any]:
    """Named Python values as the dict pycapnp takes for a struct or a call's params."""
    encoded: dict[str, Any] = {}
    for name, hint in fields:
        value = values[name]
        inner = optional_of(hint)
        if inner is None:
            encoded[camel(name)] = encode(value, hint, timeout_s)
        elif inner in SCALARS:
            encoded[camel(name)] = {"none": None} if value is None else {"value": value}
        elif value is not None:
            encoded[camel(name)] = encode(value, inner, timeout_s)
    return encoded


def encode(value: Any, hint: Any, timeout_s: float) -> Any:
    if is_interface(hint):
        from ipc.capnp import proxy  # a cycle by nature: capabilities carry methods carry values

        return proxy.capability(hint, value, timeout_s)
    if dataclasses.is_dataclass(hint):
        fields = dataclass_fields(hint)
        return encode_fields(fields, {name: getattr(value, name) for name, _ in fields}, timeout_s)
    if typing.get_origin(hint) is list:
        (item,) = typing.get_args(hint)
        return [encode(element, item, timeout_s) for element in value]
    return value


def decode_fields(
    reader: Any, fields: Iterable[tuple[str, Any]], timeout_s: float
) -> dict[str, Any]:
    decoded: dict[str, Any] = {}
    for name, hint in fields:
        wire_name = camel(name)
        inner = optional_of(hint)
        if inner is None:
            decoded[name] = decode(getattr(reader, wire_name), hint, timeout_s)
        elif inner in SCALARS:
            group = getattr(reader, wire_name)
            decoded[name] = None if group.which() == "none" else group.value
        else:
            has = reader._has(wire_name)
            decoded[name] = decode(getattr(reader, wire_name), inner, timeout_s) if has else None
    return decoded


def decode(reader: Any, hint: Any, timeout_s: float) -> Any:
    if is_interface(hint):
        from ipc.capnp import proxy

        return proxy.client(hint, reader, timeout_s)
    if dataclasses.is_dataclass(hint):
        return hint(**decode_fields(reader, dataclass_fields(hint), timeout_s))
    if typing.get_origin(hint) is list:
        (item,) = typing.get_args(hint)
        return [decode(element, item, timeout_s) for element in reader]
    if hint is bytes:
        return bytes(reader)
    return reader
