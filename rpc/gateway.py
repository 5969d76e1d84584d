"""The ``rpc`` worker: Bitcoin Core's HTTP JSON-RPC server in front of the node and wallets.

A process of its own, supervised like the others. The supervisor binds the port once
and lends the listening socket to every generation, so the port never changes and a
client that connects while the gateway restarts waits in the backlog. The supervisor
also writes the cookie, which this process reads at start. It hands over the node's
and wallets' faces with ``Init.attach_rpc`` whenever one of them (or this gateway)
comes up; in between, a call to a worker that went away fails at once (-28).

Routing is Core's: a wallet method goes to the wallet ``/wallet/<name>`` names, or on
``/`` to the only wallet; everything else goes to the node, whatever the path.
"""

from __future__ import annotations

import asyncio
import json
import socket
import string
from collections.abc import Awaitable, Callable
from contextlib import suppress
from typing import TypeVar

import structlog
from aiohttp import web

from btc.amounts import dumps
from ipc.interfaces import (
    Init,
    Node,
    RpcCode,
    RpcError,
    SplitdError,
    StartFailure,
    Wallet,
    WalletFace,
    WorkerUnavailable,
)
from ipc.worker import WorkerContext, WorkerInit
from rpc.auth import Authenticator, read_cookie
from rpc.http import KEEPALIVE_TIMEOUT_S, WALLET_PREFIX, make_app

log = structlog.get_logger()
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
        self._wallet_methods: frozenset[str] | None = None  # the same in every wallet
        self._node_methods: frozenset[str] | None = None
        self._attached = asyncio.Event()  # set, then replaced, by every attach

    def attach(self, node: Node | None, wallets: list[WalletFace]) -> None:
        self.node = node
        self.wallets = {face.name: face.wallet for face in wallets}
        self._attached.set()
        self._attached = asyncio.Event()

    async def execute(self, uri: str, method: str, params: str) -> str:
        if method == "help":
            return await self.help(params)
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
            name = url_decode(uri[len(WALLET_PREFIX) :])
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


class GatewayInit(WorkerInit):
    def __init__(
        self, context: WorkerContext, faces: Faces, runner: web.AppRunner, listener: socket.socket
    ) -> None:
        super().__init__(context)
        self.faces = faces
        self.runner = runner
        self.listener = listener
        self.site: web.SockSite | None = None

    async def attach_rpc(self, node: Node | None, wallets: list[WalletFace]) -> None:
        """Take the faces; the first time, start answering HTTP. Until then, clients wait in
        the socket's backlog rather than being told the node is not running."""
        self.faces.attach(node, wallets)
        log.info(
            "rpc_attached",
            node=node is not None,
            wallets={face.name: face.wallet is not None for face in wallets},
        )
        if self.site is None:
            self.site = web.SockSite(self.runner, self.listener)
            await self.site.start()
            host, port = self.listener.getsockname()[:2]
            log.info("rpc_listening", host=host, port=port)

    async def close(self) -> None:
        """Stop taking requests; those in flight get up to half a stop step to finish."""
        await self.runner.cleanup()


async def make_init(context: WorkerContext) -> Init:
    """Get ready to serve HTTP on the supervisor's socket, with the cookie it wrote."""
    launch = context.launch
    if launch.listener is None:
        raise StartFailure("the supervisor lent no listening socket")
    try:
        cookie = read_cookie(launch.datadir)
    except (OSError, UnicodeDecodeError) as error:
        raise StartFailure(f"cannot read the RPC cookie: {error}") from None
    faces = Faces()
    runner = web.AppRunner(
        make_app(faces, Authenticator(cookie, launch.settings.rpc.auth)),
        access_log=None,
        keepalive_timeout=KEEPALIVE_TIMEOUT_S,
        shutdown_timeout=launch.settings.supervisor.stop_timeout_s / 2,
    )
    await runner.setup()
    return GatewayInit(context, faces, runner, launch.listener)
