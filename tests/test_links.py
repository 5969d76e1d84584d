"""Direct links between workers (``ipc.links``): the ends a link hands out, what a linked
peer may call, and the JSON-RPC gateway reaching the node with the supervisor out of the
path."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from ipc import links
from ipc.capnp import protocol
from ipc.interfaces import Chain, Init, Node, Unsupported, Wallet, WalletFace
from ipc.worker import Launch, Linked, WorkerContext
from rpc.gateway import GatewayInit
from rpc.routing import Faces
from tests.conftest import Running, read_records
from tests.procs import wait_until
from tests.test_rpc_gateway import call, cookie_of, port_of

ADDRESS = "bcrt1qqqqsyqcyq5rqwzqfpg9scrgwpugpzysnard0ew"  # anyone's: only the block matters


async def _linked_pair(name: str, take_first: bool) -> tuple[socket.socket, socket.socket]:
    """A provider's and a taker's channel, a link made between them: the two ends."""
    provider_ours, provider_theirs = links.channel()
    taker_ours, taker_theirs = links.channel()
    served: asyncio.Queue[socket.socket] = asyncio.Queue()
    provider = links.Inbox(provider_theirs, served.put_nowait)
    taker = links.Inbox(taker_theirs, lambda end: pytest.fail("a taker serves nothing"))
    try:
        if take_first:  # the taker waits for the end
            taking = asyncio.ensure_future(taker.take(name))
            links.make(provider_ours, taker_ours, name)
        else:  # the end waits for the taker
            links.make(provider_ours, taker_ours, name)
            await asyncio.wait_for(_arrival(taker, name), 5)
            taking = asyncio.ensure_future(taker.take(name))
        return await asyncio.wait_for(served.get(), 5), await asyncio.wait_for(taking, 5)
    finally:
        provider.close()
        taker.close()
        for sock in (provider_ours, taker_ours):
            sock.close()


async def _arrival(inbox: links.Inbox, name: str) -> None:
    while not inbox.has(name):
        await asyncio.sleep(0.001)


def test_a_second_taker_of_one_name_is_refused_and_eof_ends_the_wait() -> None:
    async def main() -> tuple[str, type[BaseException]]:
        supervisor_end, worker_end = links.channel()
        inbox = links.Inbox(worker_end, lambda end: pytest.fail("nothing to serve"))
        first = asyncio.ensure_future(inbox.take("node.1"))
        await asyncio.sleep(0)
        with pytest.raises(RuntimeError) as second:
            await inbox.take("node.1")
        supervisor_end.close()  # the supervisor is gone: the link will never come
        with pytest.raises(ConnectionError) as ended:
            await asyncio.wait_for(first, 5)
        inbox.close()
        return str(second.value), type(ended.value)

    assert asyncio.run(main()) == ("link node.1 is already being taken", ConnectionError)


@pytest.mark.parametrize("take_first", [True, False])
def test_a_link_gives_each_side_one_end_of_the_same_socketpair(take_first: bool) -> None:
    served, reached = asyncio.run(_linked_pair("node.1", take_first))
    with served, reached:
        reached.sendall(b"ping")
        assert served.recv(4) == b"ping"
        served.sendall(b"pong")
        assert reached.recv(4) == b"pong"


class Provider(Init):
    """A provider's ``Init``, to see what a linked peer gets of it."""

    def __init__(self) -> None:
        self.stopped = False

    async def ping(self) -> None:
        return None

    async def wait_loaded(self) -> None:
        return None

    async def shutdown(self) -> None:
        self.stopped = True

    async def make_node(self) -> Node:
        raise Unsupported("no node here")

    async def make_chain(self) -> Chain:
        raise Unsupported("no chain here")

    async def make_wallet(self, chain_link: str) -> Wallet:
        raise Unsupported("no wallet here")

    async def attach_rpc(
        self, node_link: str, wallets: list[WalletFace], manager: Wallet | None
    ) -> None:
        raise AssertionError("a linked peer must not reach this")


def test_a_linked_peer_gets_the_faces_but_cannot_stop_or_rewire_its_provider() -> None:
    provider = Provider()

    async def main() -> list[Any]:
        ours, theirs = socket.socketpair()
        until = asyncio.Event()
        serving = asyncio.ensure_future(protocol.serve(theirs, Init, Linked(provider), until, 5))
        connection = await protocol.connect(ours, Init, 5)
        outcomes: list[Any] = [await connection.remote.ping()]
        for request in (
            connection.remote.shutdown(),
            connection.remote.attach_rpc("", [], None),
            connection.remote.make_wallet(""),
            connection.remote.make_node(),
        ):
            try:
                outcomes.append(await request)
            except Unsupported as error:
                outcomes.append(error.message)
        connection.close()
        await asyncio.wait_for(serving, 5)
        return outcomes

    assert protocol.run(main()) == [
        None,
        "only the supervisor stops a worker",
        "only the supervisor wires a worker",
        "only the supervisor wires a worker",
        "no node here",
    ]
    assert not provider.stopped


@contextmanager
def frozen(pid: int) -> Iterator[None]:
    """The process stopped (SIGSTOP) for the duration: whatever passes through it waits."""
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


def test_json_rpc_reaches_the_node_with_the_supervisor_frozen(splitd, datadir: Path) -> None:
    """The gateway's calls to the node go over their link, not through the supervisor:
    they are answered while the supervisor cannot run at all, and again over a new link
    once a killed node is back."""
    running: Running = splitd()
    running.wait_running()
    port, cookie = port_of(datadir), cookie_of(datadir)
    # The gateway learns which methods are the wallets' from a wallet once it is wired; it
    # still reaches wallets through the supervisor, so that is done before the freeze.
    wait_until(lambda: call(port, cookie, "getwalletinfo")[0] == 200, 10, "the wallet wired")
    with frozen(running.process.pid):
        assert call(port, cookie, "getblockcount") == (200, {"result": 0, "error": None, "id": 1})

    os.kill(running.worker("node")["pid"], signal.SIGKILL)
    running.wait_worker("node", generation=2, state="running")
    wait_until(lambda: call(port, cookie, "getblockcount")[0] == 200, 10, "the node back")
    with frozen(running.process.pid):
        assert call(port, cookie, "getblockcount")[1]["result"] == 0

    made = [
        r["link"]
        for r in read_records(datadir)
        if r["event"] == "link_made" and r["worker"] == "rpc"
    ]
    attached = {r.get("link") for r in read_records(datadir) if r["event"] == "rpc_attached"}
    assert made == ["node.1", "node.2"]  # one per node generation, however often re-attached
    assert {"node.1", "node.2"} <= attached


class SlowNode(Node):
    async def execute_rpc(self, method: str, params: str) -> str:
        return "7"

    async def list_rpc_commands(self) -> list[str]:
        return ["getblockcount"]


class LoadingProvider(Provider):
    """A node whose ``make_node`` waits until it has loaded, as a real one does."""

    def __init__(self) -> None:
        super().__init__()
        self.loaded = asyncio.Event()

    async def make_node(self) -> Node:
        await self.loaded.wait()
        return SlowNode()


def test_an_attach_cut_short_while_the_node_loads_leaves_the_link_for_the_next() -> None:
    """The supervisor gives up on an attach whose ``make_node`` waits for a node still
    loading; the gateway keeps the end it reached, and the next attach, which names the
    same link, gets the node on it (a link's end can be taken only once)."""
    provider = LoadingProvider()

    async def main() -> tuple[str, int]:
        ours, theirs = socket.socketpair()
        until = asyncio.Event()
        serving = asyncio.ensure_future(protocol.serve(theirs, Init, Linked(provider), until, 5))
        reached = 0

        async def reach(name: str) -> Any:
            nonlocal reached
            reached += 1
            assert reached == 1, "an end is reached once"
            return await protocol.connect(ours, Init, 5)

        launch = Launch(
            "rpc.gateway:make_init", "rpc", "rpc", 1, Path("/nonexistent"), "warning", 5, None
        )
        gateway = GatewayInit(WorkerContext(launch, lambda: None, reach), Faces(), None, None)  # type: ignore[arg-type]
        with pytest.raises(TimeoutError):  # the supervisor's deadline, as it cancels the call
            await asyncio.wait_for(gateway.linked_node("node.1"), 0.2)
        provider.loaded.set()
        node = await asyncio.wait_for(gateway.linked_node("node.1"), 5)
        assert node is not None
        answer = await node.execute_rpc("getblockcount", "[]")
        gateway.node.close()
        await asyncio.wait_for(serving, 5)
        return answer, reached

    assert protocol.run(main()) == ("7", 1)


def wallet_height(datadir: Path) -> int | None:
    """The height the wallet last recorded, read from its file (not through splitd)."""
    path = datadir / "wallets" / "default" / "wallet.sqlite"
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
        (height,) = db.execute("SELECT max(height) FROM blocks").fetchone()
    return height


def test_a_wallet_hears_of_blocks_over_its_link_with_the_supervisor_frozen(
    splitd, datadir: Path
) -> None:
    """The wallet's Chain, and the node's notifications to it, go over their own link."""
    running: Running = splitd()
    running.wait_running()
    port, cookie = port_of(datadir), cookie_of(datadir)
    wait_until(lambda: call(port, cookie, "getwalletinfo")[0] == 200, 10, "the wallet wired")
    with frozen(running.process.pid):
        assert call(port, cookie, "generatetoaddress", [1, ADDRESS])[0] == 200
        wait_until(lambda: wallet_height(datadir) == 1, 10, "the wallet at the new block")
    wallets = [
        r["link"]
        for r in read_records(datadir)
        if r["event"] == "link_made" and r["worker"] == "wallet"
    ]
    assert wallets == ["node.1"]
