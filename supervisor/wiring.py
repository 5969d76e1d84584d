"""Wiring by the specs' needs and provides: who gets which capability from whom, and when.

- A worker that needs the ``Chain`` gets it with ``Init.make_wallet(chain_link)`` when
  either has loaded, over a direct link to the provider (``ipc.links``): a new node
  generation is a new link, and a new Chain, for every wallet.
- A worker that takes faces (the JSON-RPC gateway, the node for Core's IPC Rpc) gets
  the node's, every wallet's and the wallet manager's with ``Init.attach_rpc`` whenever
  one of them comes or is wired. The node it reaches over a direct link (``ipc.links``)
  made once per pair of generations, so its calls to the node do not pass through us.
- Callers of the control socket get the running provider's face, waiting a moment for
  a wallet that has just started to be wired.

Wiring that fails (a worker went down meanwhile) is retried by the next Loaded of
either side, which is exactly when it can succeed.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine, Iterable
from typing import Any

import structlog

from ipc import links
from ipc.interfaces import (
    Init,
    Node,
    RpcCode,
    RpcError,
    SplitdError,
    Wallet,
    WalletFace,
    WorkerUnavailable,
)
from supervisor.policy import State
from supervisor.spec import CHAIN, DEFAULT_WALLET, NODE
from supervisor.worker import Worker

WIRING_WAIT_S = 5.0  # how long a call for a wallet waits for it to be wired to the node
log = structlog.get_logger()

NO_WALLET = (
    "No wallet is loaded. Load a wallet using loadwallet or create a new one with createwallet."
    " (Note: A default wallet is no longer automatically created)"
)
NOT_SPECIFIED = (
    "Multiple wallets are loaded. Please select which wallet to use with --wallet NAME"
    " (splitd wallet --wallet NAME ..., or the /wallet/NAME endpoint over JSON-RPC)."
)


class Wiring:
    def __init__(
        self,
        workers: Callable[[], Iterable[Worker]],
        init_of: Callable[[str], Init],
        spawn: Callable[[Coroutine[Any, Any, None]], None],
        describe: Callable[[Worker], Any],
        manager: Wallet | None = None,
    ) -> None:
        self._workers = workers
        self._init_of = init_of
        self._spawn = spawn
        self._log = describe  # a logger bound to a worker's identity
        self.manager = manager  # the supervisor's wallet-loading face, for takers of faces
        # One attach at a time, each with the faces as they are when it runs: the last one a
        # taker gets is the newest, however the tasks interleave.
        self._attaching = asyncio.Lock()

    # -- who is who --------------------------------------------------------------------------

    def provider(self, what: str) -> Worker | None:
        return next((w for w in self._workers() if what in w.spec.provides), None)

    def wallet_hosts(self) -> list[Worker]:
        return [w for w in self._workers() if w.spec.wallet is not None]

    # -- reacting to a worker that became ready ----------------------------------------------

    def on_loaded(self, worker: Worker) -> None:
        spec = worker.spec
        if CHAIN in spec.provides:  # a new Chain: every consumer re-subscribes to it
            for consumer in self._workers():
                if CHAIN in consumer.spec.needs and consumer.serving:
                    self._spawn(self.wire(consumer))
        elif CHAIN in spec.needs:
            self._spawn(self.wire(worker))
        if NODE in spec.provides or spec.takes_faces:
            self.attach_all()

    def attach_all(self) -> None:
        """Give every running taker the faces as they are now."""
        for taker in self._takers():
            self._spawn(self.attach(taker))

    async def attach_now(self) -> None:
        """``attach_all``, returning once done: a wallet loaded or unloaded is seen by the
        next request to any taker, as the caller who loaded it expects."""
        await asyncio.gather(*(self.attach(taker) for taker in self._takers()))

    def _takers(self) -> list[Worker]:
        return [w for w in self._workers() if w.spec.takes_faces and w.serving]

    async def wire(self, consumer: Worker) -> None:
        """Link a wallet host to the provider of the Chain: it re-subscribes, catches up."""
        provider = self.provider(CHAIN)
        if provider is None or not provider.serving:
            return  # its own Loaded wires everyone
        chain_link = self.link(CHAIN, consumer)
        if not chain_link and provider is not consumer:
            return  # one of them has just exited; its exit rewires
        generation = consumer.generation
        try:
            wallet = await self._init_of(consumer.name).make_wallet(chain_link)
        except SplitdError as error:
            self._log(consumer).warning("wallet_not_wired", code=error.code, message=error.message)
            return
        if consumer.generation == generation:
            consumer.wallet = wallet
            consumer.wired.set()
            self._log(consumer).info("wallet_wired")
            self.attach_all()

    async def attach(self, taker: Worker) -> None:
        """Hand a taker the node (over a direct link; none while it is down), every wallet
        host's face (None until it is wired) and the manager's. Between two attaches, a call
        to a worker that went away fails at once on its old face or link, so exits need no
        attach of their own."""
        async with self._attaching:
            node_link = self.link(NODE, taker)
            wallets = [
                WalletFace(host.spec.wallet, host.wallet)
                for host in self.wallet_hosts()
                if host.spec.wallet is not None
            ]
            try:
                await self._init_of(taker.name).attach_rpc(node_link, wallets, self.manager)
            except SplitdError as error:  # it went down meanwhile: its next Loaded attaches it
                self._log(taker).warning("rpc_not_attached", code=error.code, message=error.message)

    def link(self, what: str, taker: Worker) -> str:
        """The name of a direct link from ``taker`` to the provider of ``what``, made the
        first time this pair of generations asks; "" when there is none to make (no
        provider process, or the taker is the provider itself). A provider still loading
        is linked too: what the taker asks of it waits for it, as through us."""
        provider = self.provider(what)
        if provider is None or provider is taker or provider.spawned is None:
            return ""
        name = f"{provider.name}.{provider.generation}"
        if taker.linked.get(provider.name) != name:
            if taker.spawned is None:
                return ""
            try:
                links.make(provider.spawned.links, taker.spawned.links, name)
            except OSError:  # one of them has just exited; its exit rewires
                return ""
            taker.linked[provider.name] = name
            self._log(taker).info("link_made", provider=provider.name, link=name)
        return name

    # -- what callers of the control socket get ----------------------------------------------

    async def node(self) -> Node:
        provider = self.provider(NODE)
        if provider is None:
            raise WorkerUnavailable("no worker serves the node")
        return await self._init_of(provider.name).make_node()

    async def wallet(self, name: str) -> Wallet:
        """The wallet ``name`` ("": the only one) as last wired to the node.

        A wallet that has just (re)started is wired a moment after it answers: a caller
        then waits for that, up to ``WIRING_WAIT_S``, rather than being told to retry.
        """
        host = self._host(name)
        chain = self.provider(CHAIN)
        coming = (State.STARTING, State.RUNNING)
        node_coming = chain is not None and chain.state in coming
        if host.wallet is None and host.state in coming and node_coming:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(host.wired.wait(), WIRING_WAIT_S)
        if host.state is not State.RUNNING:
            raise WorkerUnavailable(f"the wallet is not running ({host.state}); retry")
        if host.wallet is None:
            state = "no node" if chain is None else chain.state
            raise WorkerUnavailable(f"the wallet is not connected to the node ({state})")
        return host.wallet

    def _host(self, name: str) -> Worker:
        """By name; without one, the only wallet, or else the ``default`` one (as the CLI
        always has: over HTTP, Core's -19 instead)."""
        hosts = {host.spec.wallet: host for host in self.wallet_hosts()}
        if name:
            if name in hosts:
                return hosts[name]
            loaded = ", ".join(str(wallet) for wallet in hosts) or "none"
            raise RpcError(
                RpcCode.WALLET_NOT_FOUND,
                f"Requested wallet does not exist or is not loaded: {name!r} (loaded: {loaded})",
            )
        if len(hosts) == 1:
            return next(iter(hosts.values()))
        if not hosts:
            raise RpcError(RpcCode.WALLET_NOT_FOUND, NO_WALLET)
        if DEFAULT_WALLET in hosts:
            return hosts[DEFAULT_WALLET]
        raise RpcError(RpcCode.WALLET_NOT_SPECIFIED, NOT_SPECIFIED)
