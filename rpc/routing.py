"""Which face serves a JSON-RPC call: the node's, or a wallet's (Core's
``GetWalletForJSONRPCRequest``), shared by every server of Core's JSON-RPC: the HTTP gateway
(``rpc.gateway``) and the node's own, Core's IPC ``Rpc`` interface on ``node.sock``.

Core's rules: a wallet method goes to the wallet ``/wallet/<name>`` names, or on ``/`` to
the only wallet; the wallet-loading methods to the supervisor's manager; everything else
to the node, whatever the path. ``help`` is answered over both roles' tables at once.
"""

from __future__ import annotations

import asyncio
import json
import string
from collections.abc import Awaitable, Callable
from contextlib import suppress
from typing import TypeVar

from btc.amounts import dumps
from ipc.interfaces import (
    Node,
    RpcCode,
    RpcError,
    SplitdError,
    Wallet,
    WalletFace,
    WorkerUnavailable,
)
from rpc.http import WALLET_PREFIX
from rpc.spec import WALLET_LOADING, for_wallet

T = TypeVar("T")
WIRING_WAIT_S = 5.0  # as long as `splitd wallet` waits for a wallet that has just started

NO_WALLET = (
    "No wallet is loaded. Load a wallet using loadwallet or create a new one with createwallet."
    " (Note: A default wallet is no longer automatically created)"
)
NOT_WIRED = "the wallet is not running or not wired yet; retry"
NOT_LOADED = "Requested wallet does not exist or is not loaded"
NOT_SPECIFIED = (
    "Multiple wallets are loaded. Please select which wallet to use by requesting the RPC"
    " through the /wallet/<walletname> URI path."
)


def url_decode(text: str) -> str:
    """Core's ``UrlDecode``: ``%XX`` (two hex digits, either case) is a byte; any other
    ``%`` stays as it is, and ``+`` is no space. Bytes that are no UTF-8 stay as they came
    (``surrogateescape``): a name is compared, never guessed at."""
    data = text.encode("utf-8", "surrogateescape")
    out = bytearray()
    i = 0
    while i < len(data):
        pair = data[i + 1 : i + 3].decode("latin-1")
        if data[i] == ord("%") and len(pair) == 2 and all(c in string.hexdigits for c in pair):
            out.append(int(pair, 16))
            i += 3
        else:
            out.append(data[i])
            i += 1
    return out.decode("utf-8", "surrogateescape")


def merge_overviews(*overviews: str) -> str:
    """``help``'s list of every command, from each role's own: sections by category in
    order, and commands by name within each, as Core's one table would list them."""
    sections: dict[str, dict[str, None]] = {}
    for overview in overviews:
        lines: dict[str, None] | None = None
        for line in overview.splitlines():
            if line.startswith("== ") and line.endswith(" =="):
                lines = sections.setdefault(line, {})
            elif line and lines is not None:
                lines[line] = None
    return "\n\n".join(
        "\n".join([header, *sorted(lines, key=lambda line: line.split(" ", 1)[0])])
        for header, lines in sorted(sections.items(), key=lambda item: item[0].lower())
    )


def endpoint_wallet(uri: str) -> str:
    """The wallet a ``/wallet/NAME`` endpoint names; "" for any other."""
    return url_decode(uri[len(WALLET_PREFIX) :]) if uri.startswith(WALLET_PREFIX) else ""


def help_command(params: str) -> object:
    """The command a ``help`` request asks about (None: all of them), by position or name."""
    values = json.loads(params)
    if isinstance(values, dict):
        return values.get("command")
    return values[0] if values else None


class Faces:
    """The node and wallets as last attached, and which of them serves a call (Core's
    ``GetWalletForJSONRPCRequest``)."""

    def __init__(self, wiring_wait_s: float = WIRING_WAIT_S) -> None:
        self.wiring_wait_s = wiring_wait_s
        self.node: Node | None = None
        self.wallets: dict[str, Wallet | None] = {}
        self.manager: Wallet | None = None  # the supervisor's createwallet, loadwallet...
        self._wallet_methods: frozenset[str] | None = None  # the same in every wallet
        self._node_methods: frozenset[str] | None = None
        self._attached = asyncio.Event()  # set, then replaced, by every attach

    def attach(
        self, node: Node | None, wallets: list[WalletFace], manager: Wallet | None = None
    ) -> None:
        self.node = node
        self.wallets = {face.name: face.wallet for face in wallets}
        self.manager = manager
        self._attached.set()
        self._attached = asyncio.Event()

    async def execute(self, uri: str, method: str, params: str) -> str:
        if method == "help":
            return await self.help(params)
        if method in WALLET_LOADING:
            if self.manager is None:
                raise WorkerUnavailable("the supervisor has not attached this gateway yet")
            return await self.manager.execute_rpc(
                method, for_wallet(endpoint_wallet(uri), method, params)
            )
        wallet = await self.wiring(lambda: self.route(uri, method))
        if wallet is not None:
            return await wallet.execute_rpc(method, params)
        return await self.the_node().execute_rpc(method, params)

    async def wiring(self, route: Callable[[], Awaitable[T]]) -> T:
        """``route()``, again after each attach while it finds a wallet not wired yet, for up
        to ``wiring_wait_s``, as ``splitd wallet`` waits: a wallet that has just started is
        wired a moment later. A face that went away fails at once, not here."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.wiring_wait_s
        while True:
            attached = self._attached
            try:
                return await route()
            except WorkerUnavailable:
                if loop.time() >= deadline:
                    raise
                with suppress(TimeoutError):
                    await asyncio.wait_for(attached.wait(), deadline - loop.time())

    async def route(self, uri: str, method: str) -> Wallet | None:
        """The wallet a wallet method goes to; None for the node's."""
        wallet_methods = await self.wallet_methods()
        if method in wallet_methods:
            return self.wallet_for(uri)
        if not wallet_methods and self.wallets and method not in await self.node_methods():
            # No wallet has answered yet: this may well be a wallet method, and "Method not
            # found" would tell the client not to retry.
            raise WorkerUnavailable(NOT_WIRED)
        return None

    def the_node(self) -> Node:
        if self.node is None:
            raise WorkerUnavailable("the node is not running; retry")
        return self.node

    async def wallet_methods(self) -> frozenset[str]:
        """The wallet's methods, asked once of the first wallet that answers."""
        if self._wallet_methods is None:
            for wallet in self.wallets.values():
                if wallet is not None:
                    with suppress(SplitdError):
                        names = await wallet.list_rpc_commands()
                        self._wallet_methods = frozenset(names) - {"help"}
                        break
        return self._wallet_methods or frozenset()

    async def node_methods(self) -> frozenset[str]:
        if self._node_methods is None:
            self._node_methods = frozenset(await self.the_node().list_rpc_commands())
        return self._node_methods

    def wallet_for(self, uri: str) -> Wallet:
        """The wallet ``/wallet/<name>`` names, or on another path the only one."""
        if uri.startswith(WALLET_PREFIX):
            name = endpoint_wallet(uri)
            if name not in self.wallets:
                raise RpcError(RpcCode.WALLET_NOT_FOUND, NOT_LOADED)
        elif len(self.wallets) == 1:
            (name,) = self.wallets
        elif not self.wallets:
            raise RpcError(RpcCode.WALLET_NOT_FOUND, NO_WALLET)
        else:
            raise RpcError(RpcCode.WALLET_NOT_SPECIFIED, NOT_SPECIFIED)
        wallet = self.wallets[name]
        if wallet is None:
            raise WorkerUnavailable(f"the wallet {name!r} is not running or not wired yet; retry")
        return wallet

    def any_wallet(self) -> Wallet | None:
        return next((wallet for wallet in self.wallets.values() if wallet is not None), None)

    async def a_wallet(self) -> Wallet:
        wallet = self.any_wallet()
        if wallet is None:
            raise WorkerUnavailable(NOT_WIRED)
        return wallet

    async def help(self, params: str) -> str:
        """Core's ``help``, over one table of node and wallet methods: a wallet method's
        help is the wallet's, the list of commands is both roles' merged."""
        command = help_command(params)
        if isinstance(command, str) and command in await self.wallet_methods():
            return await (await self.wiring(self.a_wallet)).execute_rpc("help", params)
        wallet = self.any_wallet()
        answer = await self.the_node().execute_rpc("help", params)
        if command is not None or wallet is None:
            return answer
        try:
            theirs = await wallet.execute_rpc("help", params)
        except SplitdError:
            return answer  # the node's commands at least; the wallet is coming back
        return dumps(merge_overviews(json.loads(answer), json.loads(theirs)))
