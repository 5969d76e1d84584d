"""What a worker's own code is given and what it serves: the contract between the
supervisor's spawn and a role's entry point (``"node.worker:make_init"``).

Free of the wire (no ``ipc.capnp``), so any package may implement a worker, the RPC
layer's HTTP gateway included; ``ipc.process`` runs the process around it.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

import structlog

from ipc.interfaces import Chain, Init, Node, Unsupported, Wallet, WalletFace

log = structlog.get_logger()
T = TypeVar("T")


@dataclass(frozen=True)
class Launch:
    entry: str  # "module:function"; the function builds the worker's Init
    name: str
    role: str
    generation: int
    datadir: Path
    log_level: str
    call_timeout_s: float
    settings: Any  # config.Settings: ipc stays free of the config package
    # A listening socket the supervisor holds and lends to every generation (the JSON-RPC
    # port): multiprocessing passes it to the child as a duplicate descriptor.
    listener: socket.socket | None = None
    wallet: str | None = None  # the wallet a wallet worker opens, by name


class Reached(Protocol):
    """A provider reached over a direct link (``ipc.links``): its ``Init`` as a linked peer
    sees it (``Linked``), until ``close``."""

    remote: Init

    def close(self) -> None: ...


async def _no_links(name: str) -> Reached:
    raise Unsupported("this worker was started without a link channel")


@dataclass(frozen=True)
class WorkerContext:
    """What a worker's own code is given: who it is, a way to ask to stop, and a way to
    reach a provider the supervisor linked it to (by the link's name)."""

    launch: Launch
    request_stop: Callable[[], None]
    reach: Callable[[str], Awaitable[Reached]] = _no_links


class InitFactory(Protocol):
    def __call__(self, context: WorkerContext) -> Awaitable[Init]: ...


class WorkerInit(Init):
    """The part of ``Init`` every worker shares; roles override the factories they serve.

    A role opens what it serves in ``load``, which the process runs once ``Init`` is
    being served: the worker answers ``ping`` from its first moment, and its factories
    wait (``loaded``) for what they hand out.
    """

    def __init__(self, context: WorkerContext) -> None:
        self.context = context
        self._loaded = asyncio.Event()
        self.pinged = asyncio.Event()  # the first ping has been answered

    async def load(self) -> None:
        """Open what the worker serves; ``StartFailure`` if it cannot (it then exits 1)."""

    def mark_loaded(self) -> None:
        self._loaded.set()

    async def loaded(self) -> None:
        """Wait until ``load`` is done (the caller's own deadline bounds the wait)."""
        await self._loaded.wait()

    async def ping(self) -> None:
        self.pinged.set()

    async def wait_loaded(self) -> None:
        await self.loaded()

    async def shutdown(self) -> None:
        log.info("shutdown_requested")
        self.context.request_stop()

    async def make_node(self) -> Node:
        raise Unsupported(f"the {self.context.launch.role} worker serves no node")

    async def make_chain(self) -> Chain:
        raise Unsupported(f"the {self.context.launch.role} worker serves no chain")

    async def make_wallet(self, chain_link: str) -> Wallet:
        raise Unsupported(f"the {self.context.launch.role} worker serves no wallet")

    async def attach_rpc(
        self, node_link: str, wallets: list[WalletFace], manager: Wallet | None
    ) -> None:
        raise Unsupported(f"the {self.context.launch.role} worker serves no JSON-RPC")

    async def close(self) -> None:
        """Release what the worker holds once it has stopped serving ``Init`` (not part of
        ``Init``: the process calls it on its way out)."""


class Linked(Init):
    """A worker's ``Init`` as a peer on a direct link sees it: the faces it hands out, not
    the supervisor's controls. A taker cannot stop its provider, nor rewire it (bind its
    wallet to another chain, or attach faces to it)."""

    def __init__(self, init: Init) -> None:
        self._init = init

    async def ping(self) -> None:
        await self._init.ping()

    async def wait_loaded(self) -> None:
        await self._init.wait_loaded()

    async def make_node(self) -> Node:
        return await self._init.make_node()

    async def make_chain(self) -> Chain:
        return await self._init.make_chain()

    async def make_wallet(self, chain_link: str) -> Wallet:
        raise Unsupported("only the supervisor wires a worker")  # it binds to a new chain

    async def shutdown(self) -> None:
        raise Unsupported("only the supervisor stops a worker")

    async def attach_rpc(
        self, node_link: str, wallets: list[WalletFace], manager: Wallet | None
    ) -> None:
        raise Unsupported("only the supervisor wires a worker")


class ProviderLink(Generic[T]):
    """A provider reached over the direct link the supervisor names, and the face asked of
    it there (``make_node``, ``make_chain``).

    The end is kept as soon as it is reached, and the face asked for on it until it is
    given: a wiring call cut short (the provider still loading past the supervisor's
    deadline) leaves the link for the next one, which names it again. A new name replaces
    the link: the provider it led to is gone, and its link with it.
    """

    def __init__(
        self, reach: Callable[[str], Awaitable[Reached]], ask: Callable[[Init], Awaitable[T]]
    ) -> None:
        self._reach = reach
        self._ask = ask
        self.name = ""
        self._reached: Reached | None = None
        self._face: T | None = None
        self._lock = asyncio.Lock()  # one wiring call at a time reaches the link

    async def face(self, name: str) -> T:
        """The face over link ``name``; ``SplitdError`` if it cannot be had (yet)."""
        async with self._lock:
            if self._reached is None or self.name != name:
                reached = await self._reach(name)
                self.close()
                self.name, self._reached, self._face = name, reached, None
            if self._face is None:
                self._face = await self._ask(self._reached.remote)
            return self._face

    def close(self) -> None:
        if self._reached is not None:
            self._reached.close()
            self._reached = None
