"""``splitd node`` and ``splitd wallet``: bitcoin-cli for the running node and wallets.

The words after the method become JSON parameters by Core's own conversion table
(``-named``: ``key=value`` words by name; ``-stdin``: more words from standard
input, one a line, for a block too long for a command line), go through the
supervisor's control socket to the node's or wallet's dispatcher, and the result is
printed as bitcoin-cli prints it.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from btc.amounts import dumps
from ipc.interfaces import Control
from rpc.client import ConversionError, named, positional
from supervisor.output import EXIT_OK, Failure, print_result
from supervisor.session import ask

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
    parser.add_argument("method")
    parser.add_argument("params", nargs="*", metavar="ARG")


def request(args: argparse.Namespace) -> tuple[str, str]:
    """The method and its parameters as JSON text, as bitcoin-cli would send them."""
    words: list[str] = list(args.params)
    if args.stdin:
        words += [line.rstrip("\n") for line in sys.stdin]  # getline: only the newline goes
    try:
        params: Any = named(args.method, words) if args.named else positional(args.method, words)
    except ConversionError as error:
        raise Failure(str(error)) from None
    return args.method, dumps(params)


def cmd_node(args: argparse.Namespace) -> int:
    method, params = request(args)

    async def call(control: Control) -> str:
        return await (await control.node()).execute_rpc(method, params)

    print_result(ask(args, call, RPC_TIMEOUT_S))
    return EXIT_OK


def cmd_wallet(args: argparse.Namespace) -> int:
    method, params = request(args)

    async def call(control: Control) -> str:
        return await (await control.wallet(args.wallet)).execute_rpc(method, params)

    print_result(ask(args, call, RPC_TIMEOUT_S))
    return EXIT_OK
