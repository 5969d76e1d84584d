"""The node's control RPCs (Core's src/rpc/server.cpp and node.cpp)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from rpc.spec import Param, Table, Type

if TYPE_CHECKING:
    from node.service import NodeService

TABLE = Table("node")
# Core's echo takes arg0..arg9 of any JSON type (STR with skip_type_check).
ECHO_ARGS = tuple(Param(f"arg{i}", Type.STR, "", None, skip_type_check=True) for i in range(10))
ECHO_HELP = (
    "Simply echo back the input arguments. This command is for testing.\n\nIt will return an "
    "internal bug report when arg9='trigger_internal_bug' is passed.\n\nThe difference between "
    "echo and echojson is that echojson has argument conversion enabled in the client-side "
    "table in bitcoin-cli and the GUI. There is no server-side difference."
)


class InternalBug(Exception):
    """What echo's arg9="trigger_internal_bug" raises: Core's CHECK_NONFATAL failing, which
    the dispatcher reports and logs as every bug."""


@TABLE.method(
    "control",
    "Returns the total uptime of the server.",
    result="ttt    (numeric) The number of seconds that the server has been running",
    examples=("",),
)
async def uptime(node: NodeService) -> int:
    return int(time.monotonic() - node.started)


@TABLE.method("hidden", ECHO_HELP, *ECHO_ARGS, result="any    (any) Returns whatever was passed in")
async def echo(node: NodeService, *args: Any) -> list[Any]:
    return _echoed(args)


@TABLE.method("hidden", ECHO_HELP, *ECHO_ARGS, result="any    (any) Returns whatever was passed in")
async def echojson(node: NodeService, *args: Any) -> list[Any]:
    return _echoed(args)


def _echoed(args: tuple[Any, ...]) -> list[Any]:
    """Core returns its params array: the arguments up to the last one given (holes as null;
    a trailing null the caller sent is not told apart from one left out)."""
    if isinstance(args[9], str) and args[9] == "trigger_internal_bug":
        raise InternalBug('request.params[9].get_str() != "trigger_internal_bug"')
    given = list(args)
    while given and given[-1] is None:
        given.pop()
    return given
