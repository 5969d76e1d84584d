"""One dispatcher for every role: a request's JSON parameters bound to a method as Core binds
them (``transformNamedArguments``, ``RPCHelpMan::HandleRequest``), the method run, its
result written as Core writes JSON.

Errors a user causes come back as Core's codes and messages, a full or read-only disk
as its cause (``StorageError``); anything else a method raises is a bug: logged here,
with its traceback, in the process that raised it, and reported as an internal error,
never as a user's mistake.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import structlog

from btc.amounts import AmountError, dumps, sats_from_json
from ipc.errors import RpcCode, RpcError, SplitdError, StorageError
from rpc.help import method_help, overview
from rpc.spec import Method, Param, Table, Type

log = structlog.get_logger()

_JSON_TYPES = {
    type(None): "null",
    bool: "bool",
    dict: "object",
    list: "array",
    str: "string",
    int: "number",
    Decimal: "number",
}


def json_type(value: Any) -> str:
    return _JSON_TYPES.get(type(value), "number" if isinstance(value, int | float) else "?")


def parse_params(text: str) -> list[Any] | dict[str, Any]:
    """A request's ``params`` as JSON text: an array, an object, or nothing (``""``)."""
    if not text.strip():
        return []
    try:
        params = json.loads(text, parse_float=Decimal)
    except ValueError:
        raise RpcError(RpcCode.PARSE_ERROR, "Parse error") from None
    if not isinstance(params, list | dict):
        raise RpcError(RpcCode.INVALID_REQUEST, "Params must be an array or object")
    return params


class Dispatcher:
    """Runs the methods of ``tables`` against ``context`` (the role's service)."""

    def __init__(self, tables: Sequence[Table], context: Any, peer: str) -> None:
        self.tables = tuple(tables)
        self.context = context
        self.peer = peer  # "the node": whose log has the details of a bug

    def names(self) -> list[str]:
        """Every method ``execute`` serves, ``help`` too (Core's ``CRPCTable::listCommands``)."""
        return ["help", *(method.name for table in self.tables for method in table)]

    def find(self, name: str) -> Method | None:
        for table in self.tables:
            if (found := table.get(name)) is not None:
                return found
        return None

    async def execute(self, name: str, params: str) -> str:
        """The result of ``name`` as JSON text; a ``SplitdError`` with Core's code if it fails."""
        if name == "help":
            return dumps(self.help(*bind_help(parse_params(params))))
        method = self.find(name)
        if method is None:
            raise RpcError(RpcCode.METHOD_NOT_FOUND, "Method not found")
        values = bind(method, parse_params(params))
        try:
            result = await method.handler(self.context, *values)
        except SplitdError:
            raise
        except Exception as error:
            if (storage := StorageError.of(error)) is not None:  # the disk's fault, not ours
                raise storage from error
            log.exception("rpc_method_failed", method=name)
            raise RpcError(
                RpcCode.MISC_ERROR, f"internal error in {self.peer}; its log has the details"
            ) from None
        return dumps(result)

    def help(self, command: str | None = None) -> str:
        """Core's ``help``: every method by category, or one method's whole help."""
        if command is None:
            return overview(method for table in self.tables for method in table)
        method = self.find(command)
        if method is None:
            return f"help: unknown command: {command}"
        return method_help(method)


HELP = Method(
    "help",
    "control",
    "List all commands, or get help for a specified command.",
    (Param("command", Type.STR, "The command to get help on", None, "all commands"),),
    '"str"    (string) The help text',
    (),
    lambda *_: None,  # answered by the dispatcher itself: it knows every table
)


def bind_help(params: list[Any] | dict[str, Any]) -> list[Any]:
    return bind(HELP, params)


def bind(method: Method, params: list[Any] | dict[str, Any]) -> list[Any]:
    """The values ``method.handler`` is called with, in order, defaults filled in."""
    given = named_to_positional(method, params) if isinstance(params, dict) else params
    required = max((i + 1 for i, p in enumerate(method.params) if not p.optional), default=0)
    if not required <= len(given) <= len(method.params):
        # Core answers a wrong count with the method's help, as a plain error.
        raise RpcError(RpcCode.MISC_ERROR, method_help(method))
    mismatched = {
        f"Position {i + 1} ({param.name})": problem
        for i, (param, value) in enumerate(zip(method.params, given, strict=False))
        if (problem := type_problem(param, value)) is not None
    }
    if mismatched:
        raise RpcError(
            RpcCode.TYPE_ERROR, f"Wrong type passed:\n{json.dumps(mismatched, indent=4)}"
        )
    values = []
    for i, param in enumerate(method.params):
        value = given[i] if i < len(given) else None
        if value is None:
            values.append(param.default)
        else:  # a parameter that skips Core's type check is the method's to read, as given
            values.append(value if param.skip_type_check else convert(param, value))
    return values


def type_problem(param: Param, value: Any) -> str | None:
    """Core's ``RPCArg::MatchesType``: None when ``value`` may be passed as ``param``."""
    expected = param.type.json
    if param.skip_type_check or expected is None or (value is None and param.optional):
        return None
    if param.type is Type.VERBOSITY or json_type(value) == expected:
        return None
    return f"JSON value of type {json_type(value)} is not of expected type {expected}"


def convert(param: Param, value: Any) -> Any:
    """A checked JSON value as the method takes it: integers, satoshis, verbosity levels."""
    if param.type is Type.NUM:
        return integer(value)
    if param.type is Type.AMOUNT:
        try:
            return sats_from_json(value)
        except AmountError as error:
            raise RpcError(RpcCode.TYPE_ERROR, str(error)) from None
    if param.type is Type.VERBOSITY:
        if isinstance(value, bool):
            return int(value)
        if json_type(value) != "number":
            raise RpcError(
                RpcCode.TYPE_ERROR,
                f"JSON value of type {json_type(value)} is not of expected type number",
            )
        return integer(value)
    return value


def integer(value: Any) -> int:
    """UniValue's ``getInt``: a JSON number with no fraction, or Core's error."""
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise RpcError(
            RpcCode.TYPE_ERROR,
            f"JSON value of type {json_type(value)} is not of expected type number",
        )
    if isinstance(value, Decimal):
        if value != value.to_integral_value() or "." in str(value) or "e" in str(value).lower():
            raise RpcError(RpcCode.MISC_ERROR, "JSON integer out of range")
        value = int(value)
    return value


def named_to_positional(method: Method, named: dict[str, Any]) -> list[Any]:
    """Core's ``transformNamedArguments``: named parameters (and ``args``, an array of the
    first positional ones) in ``method``'s order, holes between them filled with null."""
    remaining = dict(named)
    positional = remaining.pop("args", None)
    out: list[Any] = []
    hole = initial_hole = 0
    first_named: str | None = None
    for param in method.params:
        key = next((n for n in param.names if n in remaining), None)
        if key is None:
            hole += 1
            if not out:
                initial_hole = hole
            continue
        out.extend([None] * hole)
        hole = 0
        if first_named is None:
            first_named = param.name
        out.append(remaining.pop(key))
    if isinstance(positional, list):
        if first_named is not None and initial_hole < len(positional):
            raise RpcError(
                RpcCode.INVALID_PARAMETER,
                f"Parameter {first_named} specified twice both as positional and named argument",
            )
        out = positional + out[len(positional) :]
    if remaining:
        raise RpcError(
            RpcCode.INVALID_PARAMETER, f"Unknown named parameter {next(iter(remaining))}"
        )
    return out
