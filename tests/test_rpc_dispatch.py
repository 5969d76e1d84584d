"""The one dispatcher both roles use: Core's binding, type checks, errors and help.

A small table of methods stands in for a role, so every rule is checked on its own;
the node's and wallet's tables are run through it by their own suites.
"""

from __future__ import annotations

import json
import sqlite3
from decimal import Decimal
from typing import Any

import pytest
from structlog.testing import capture_logs

from btc.amounts import dumps
from ipc.interfaces import RpcCode, StorageError
from rpc.dispatch import Dispatcher
from rpc.spec import Param, Table, Type
from tests.rpcwords import raises_rpc

TABLE = Table("test")


@TABLE.method(
    "blockchain",
    "Returns what it was given.",
    Param("height", Type.NUM, "The height index"),
    Param("verbosity|verbose", Type.VERBOSITY, "How much", 1),
    Param("label", Type.STR, "A label", None, "none"),
    Param("amount", Type.AMOUNT, "An amount", None),
    result='"str"    (string) what it was given',
    examples=("1000",),
)
async def echoargs(context: list[Any], height: int, verbosity: int, label: str | None, amount: Any):
    context.append((height, verbosity, label, amount))
    return {"height": height, "verbosity": verbosity, "label": label, "amount": amount}


@TABLE.method("util", "Fails as a bug would.")
async def broken(context: Any) -> None:
    raise ZeroDivisionError("a bug")


@TABLE.method("util", "Fails as a full disk would.")
async def full(context: Any) -> None:
    error = sqlite3.OperationalError("database or disk is full")
    error.sqlite_errorcode = sqlite3.SQLITE_FULL  # as sqlite sets it on a real full disk
    raise error


@TABLE.method("hidden", "Left out of help.", Param("x", Type.BOOL, "x"))
async def secret(context: Any, x: bool) -> bool:
    return x


def dispatcher() -> Dispatcher:
    return Dispatcher([TABLE], [], "the test")


async def call(method: str, params: Any) -> Any:
    text = params if isinstance(params, str) else dumps(params)
    return json.loads(await dispatcher().execute(method, text), parse_float=Decimal)


async def test_positional_parameters_and_defaults():
    assert await call("echoargs", [5]) == {
        "height": 5,
        "verbosity": 1,
        "label": None,
        "amount": None,
    }
    result = await call("echoargs", [5, True, "x", "0.5"])
    assert result == {"height": 5, "verbosity": 1, "label": "x", "amount": 50_000_000}
    assert (await call("echoargs", [5, None, None, Decimal("1E-8")]))["amount"] == 1


async def test_named_parameters_as_core_transforms_them():
    assert (await call("echoargs", {"height": 3}))["height"] == 3
    assert (await call("echoargs", {"height": 3, "verbose": 0}))["verbosity"] == 0  # an alias
    assert (await call("echoargs", {"height": 3, "label": "y"}))["verbosity"] == 1  # a hole: null
    assert (await call("echoargs", {"args": [4, 2], "label": "z"}))["label"] == "z"
    with raises_rpc(RpcCode.INVALID_PARAMETER, "^Unknown named parameter nope$"):
        await call("echoargs", {"height": 3, "nope": 1})
    with raises_rpc(
        RpcCode.INVALID_PARAMETER,
        "^Parameter height specified twice both as positional and named argument$",
    ):
        await call("echoargs", {"args": [4], "height": 3})


async def test_a_wrong_count_is_answered_with_the_help():
    with raises_rpc(RpcCode.MISC_ERROR) as too_few:
        await call("echoargs", [])
    assert too_few.value.message == dispatcher().help("echoargs")
    with raises_rpc(RpcCode.MISC_ERROR):
        await call("echoargs", [1, 1, "x", 1, "extra"])


async def test_every_wrong_type_is_named_in_one_error():
    with raises_rpc(RpcCode.TYPE_ERROR) as raised:
        await call("echoargs", ["1", 1, 5])
    assert raised.value.message == (
        "Wrong type passed:\n{\n"
        '    "Position 1 (height)": "JSON value of type string is not of expected type number",\n'
        '    "Position 3 (label)": "JSON value of type number is not of expected type string"\n'
        "}"
    )
    with raises_rpc(RpcCode.TYPE_ERROR, "type null is not of expected type number"):
        await call("echoargs", {"label": "x"})  # the required height left as a hole


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        ("abc", "Invalid amount"),
        (Decimal("0.000000001"), "Invalid amount"),
        (-1, "Amount out of range"),
        (21_000_001, "Amount out of range"),
        (True, "Amount is not a number or string"),
        ([1], "Amount is not a number or string"),
    ],
)
async def test_amounts_as_core_takes_them(amount: Any, message: str):
    with raises_rpc(RpcCode.TYPE_ERROR, f"^{message}$"):
        await call("echoargs", [1, 1, "x", amount])


async def test_integers_are_json_integers():
    with raises_rpc(RpcCode.MISC_ERROR, "^JSON integer out of range$"):
        await call("echoargs", [Decimal("1.5")])
    with raises_rpc(RpcCode.TYPE_ERROR, "not of expected type number"):
        await call("echoargs", [1, "2"])  # a verbosity is a number or a boolean


async def test_unknown_methods_and_malformed_params():
    with raises_rpc(RpcCode.METHOD_NOT_FOUND, "^Method not found$"):
        await call("nosuch", [])
    with raises_rpc(RpcCode.INVALID_REQUEST, "^Params must be an array or object$"):
        await call("echoargs", "5")
    with raises_rpc(RpcCode.PARSE_ERROR):
        await call("echoargs", "[1,")
    assert await call("secret", [False]) is False
    assert (await call("help", "")).startswith("== Blockchain ==")  # no params: none given


async def test_a_bug_is_an_internal_error_logged_with_its_traceback_where_it_happened():
    with capture_logs() as logs, raises_rpc(RpcCode.MISC_ERROR) as raised:
        await call("broken", [])
    assert raised.value.message == "internal error in the test; its log has the details"
    [record] = [r for r in logs if r["event"] == "rpc_method_failed"]
    assert record["method"] == "broken"
    assert record["exc_info"] is True  # structlog renders the traceback in the worker's log


async def test_a_full_disk_is_its_cause_not_a_bug():
    with pytest.raises(StorageError, match="No space left on device"):
        await call("full", [])


async def test_help_lists_visible_methods_by_category_and_one_method_as_core_writes_it():
    help_all = await call("help", [])
    assert help_all == (
        '== Blockchain ==\nechoargs height ( verbosity "label" amount )\n\n== Util ==\nbroken\nfull'
    )
    assert await call("help", ["nosuch"]) == "help: unknown command: nosuch"
    assert await call("help", ["echoargs"]) == (
        'echoargs height ( verbosity "label" amount )\n\n'
        "Returns what it was given.\n\n"
        "Arguments:\n"
        "1. height       (numeric, required) The height index\n"
        "2. verbosity    (numeric, optional, default=1) How much\n"
        "3. label        (string, optional, default=none) A label\n"
        "4. amount       (numeric or string, optional) An amount\n\n"
        "Result:\n"
        '"str"    (string) what it was given\n\n'
        "Examples:\n"
        "> bitcoin-cli echoargs 1000\n"
        '> curl --user myusername --data-binary \'{"jsonrpc": "2.0", "id": "curltest", '
        '"method": "echoargs", "params": [1000]}\' -H \'content-type: application/json\' '
        "http://127.0.0.1:8332/\n"
    )


async def test_the_node_help_of_getblockhash_is_cores_text():
    """Core's own output of ``help getblockhash`` (v28-v31), to the byte."""
    from node.rpc import TABLES

    node_help = Dispatcher(TABLES, None, "the node").help("getblockhash")
    assert node_help == (
        "getblockhash height\n\n"
        "Returns hash of block in best-block-chain at height provided.\n\n"
        "Arguments:\n"
        "1. height    (numeric, required) The height index\n\n"
        "Result:\n"
        '"hex"    (string) The block hash\n\n'
        "Examples:\n"
        "> bitcoin-cli getblockhash 1000\n"
        '> curl --user myusername --data-binary \'{"jsonrpc": "2.0", "id": "curltest", '
        '"method": "getblockhash", "params": [1000]}\' -H \'content-type: application/json\' '
        "http://127.0.0.1:8332/\n"
    )
