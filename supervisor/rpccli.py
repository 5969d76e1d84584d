"""``splitd node`` and ``splitd wallet``: bitcoin-cli for the running node and wallets.

The words after the method become JSON parameters by Core's own conversion table
(``-named``: ``key=value`` words by name; ``-stdin``: more words from standard
input, one a line, for a block too long for a command line), go through the
supervisor's control socket to the node's or wallet's dispatcher, and the result is
printed as bitcoin-cli prints it.

``--ipcconnect`` (``=unix``, the default, or ``=unix:PATH``) goes through the node's
``node.sock`` instead, as ``bitcoin-cli -ipcconnect`` does: a JSON-RPC request to Core's
IPC ``Rpc`` interface, for the node's methods or (``/wallet/NAME``) a wallet's.
"""

from __future__ import annotations

import argparse
import errno
import json
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import quote

from btc.amounts import dumps
from ipc.capnp import protocol
from ipc.capnp.coreclient import CoreClient
from ipc.capnp.coreipc import socket_path
from ipc.interfaces import Control, SplitdError
from rpc.client import ConversionError, named, positional
from rpc.spec import WALLET_LOADING, for_wallet
from supervisor.output import EXIT_OK, EXIT_USAGE, Failure, print_result
from supervisor.session import ask, datadir_of

# Node and wallet methods may run long (generatetoaddress 5000): bitcoin-cli's own
# -rpcclienttimeout default. A dead node or wallet still fails at once (disconnected).
RPC_TIMEOUT_S = 900.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-named", action="store_true", help="pass named arguments (key=value), as bitcoin-cli"
    )
    parser.add_argument(
        "-stdin",
        action="store_true",
        help="read more arguments from standard input, one per line, as bitcoin-cli",
    )
    parser.add_argument(
        "--ipcconnect",
        nargs="?",
        const="unix",
        metavar="unix[:PATH]",
        help="call through the node's node.sock (Core's IPC Rpc), as bitcoin-cli -ipcconnect",
    )
    parser.add_argument("method", nargs="?")  # required: checked in request()
    parser.add_argument("params", nargs="*", metavar="ARG")


def _ipc_words(args: argparse.Namespace) -> None:
    """A bare ``--ipcconnect`` before the method takes the method for its value (argparse's
    optional value): give it back."""
    value = args.ipcconnect
    if value is not None and value != "unix" and not value.startswith("unix:"):
        if args.method is not None:
            args.params.insert(0, args.method)
        args.method, args.ipcconnect = value, "unix"
    if args.method is None:
        raise Failure("splitd: a method is required", EXIT_USAGE)


def request(args: argparse.Namespace) -> tuple[str, str]:
    """The method and its parameters as JSON text, as bitcoin-cli would send them."""
    _ipc_words(args)
    words: list[str] = list(args.params)
    if args.stdin:
        words += [line.rstrip("\n") for line in sys.stdin]  # getline: only the newline goes
    try:
        params: Any = named(args.method, words) if args.named else positional(args.method, words)
    except ConversionError as error:
        raise Failure(str(error)) from None
    return args.method, dumps(params)


def through_ipc(args: argparse.Namespace, method: str, params: str, uri: str) -> str:
    """The result of ``method`` as the node's IPC ``Rpc`` answers it, as JSON text."""
    path = socket_path(args.ipcconnect, datadir_of(args))
    assert path is not None  # "unix" or "unix:PATH"
    # bitcoin-cli's JSONRPCRequestObj: a JSON-RPC 1.0 request with id 1.
    body = dumps({"method": method, "params": json.loads(params, parse_float=Decimal), "id": 1})

    async def session() -> str:
        try:
            client = await CoreClient.connect(path, "splitd-cli")
        except OSError as error:
            raise Failure(ipc_unreachable(path, error)) from None
        try:
            return await client.execute_rpc(body, uri)
        except SplitdError as error:
            raise Failure(error.message or error.code) from None
        finally:
            client.close()

    reply = json.loads(protocol.run(session()), parse_float=Decimal)
    if reply.get("error") is not None:
        raise Failure(str(reply["error"].get("message", reply["error"])))
    return dumps(reply.get("result"))


def wallet_uri(wallet: str) -> str:
    """bitcoin-cli's endpoint: ``/wallet/NAME`` (URI-encoded) with -rpcwallet, else ``/``."""
    return f"/wallet/{quote(wallet, safe='')}" if wallet else "/"


def ipc_unreachable(path: Path, error: OSError) -> str:
    if error.errno in (errno.ENOENT, errno.ECONNREFUSED):
        return f'no node listens on {path} (is splitd running, with ipc.bind = "unix"?)'
    return f"cannot connect to {path}: {error.strerror or error}"


def cmd_node(args: argparse.Namespace) -> int:
    method, params = request(args)
    if args.ipcconnect:
        print_result(through_ipc(args, method, params, "/"))
        return EXIT_OK

    async def call(control: Control) -> str:
        return await (await control.node()).execute_rpc(method, params)

    print_result(ask(args, call, RPC_TIMEOUT_S))
    return EXIT_OK


def cmd_wallet(args: argparse.Namespace) -> int:
    method, params = request(args)
    if args.ipcconnect:
        print_result(through_ipc(args, method, params, wallet_uri(args.wallet)))
        return EXIT_OK

    async def call(control: Control) -> str:
        if method in WALLET_LOADING:  # served by the supervisor: they need no loaded wallet
            manager = await control.wallet_manager()
            return await manager.execute_rpc(method, for_wallet(args.wallet, method, params))
        return await (await control.wallet(args.wallet)).execute_rpc(method, params)

    print_result(ask(args, call, RPC_TIMEOUT_S))
    return EXIT_OK
