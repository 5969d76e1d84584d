"""Core's IPC on a real node in this process: a pycapnp client that loads our schema files
and talks as a bitcoin-node client does (connect, ``construct``, ``makeThread``, a
``Context`` on every call), as Bitcoin Core's own test/functional/interface_ipc.py does;
the endpoint's file rules; clients that come in fifties or die mid-call.

The mining semantics are in test_core_ipc_mining.py, which shares these helpers.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import inspect
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import capnp
import pytest

from btc.primitives import hash_to_hex
from ipc.capnp import coreipc, protocol
from ipc.capnp.coreipc import CORE
from ipc.interfaces import WalletFace
from node.chainstate import ChainState
from node.mining import MiningService
from node.service import NodeService, Signal
from node.worker import NodeCore
from rpc.routing import Faces
from tests.blocks import Key
from wallet.service import WalletService

T = TypeVar("T")
KEY = Key.from_int(11)
PAYOUT = KEY.script("p2wpkh")
ROOT = Path(__file__).parent.parent


def run(body: Coroutine[Any, Any, T]) -> T:
    return protocol.run(body)


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """A directory whose socket paths fit sun_path's 108 bytes."""
    path = Path(tempfile.mkdtemp(prefix="sd-ipc-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@dataclass
class Node:
    """A node serving Core's Init on ``path``, as the node worker does."""

    node: NodeService
    service: MiningService
    faces: Faces
    endpoint: coreipc.Endpoint
    path: Path

    async def generate(self, count: int) -> list[str]:
        return await self.node.generate(count, PAYOUT)


@contextlib.asynccontextmanager
async def serving(directory: Path, *, blocks: int = 20) -> AsyncIterator[Node]:
    """A node with ``blocks`` mined to ``KEY`` (20: templates need height 17 and up)."""
    node = NodeService(ChainState.open(directory / "node"))
    await node.generate(blocks, PAYOUT)
    faces = Faces(wiring_wait_s=0)
    faces.attach(node, [])
    service = MiningService(node)
    path = directory / "regtest" / "node.sock"
    endpoint = await coreipc.listen(path, NodeCore(service, faces))
    try:
        yield Node(node, service, faces, endpoint, path)
    finally:
        endpoint.close()
        node.chain.close()


@dataclass
class Client:
    """Core's make_capnp_init_ctx: a connection, its Init, and a Context naming a thread."""

    ctx: Any
    init: Any
    rpc: Any
    stream: Any

    def close(self) -> None:
        self.rpc.close()
        self.stream.close()


async def connect(path: Path) -> Client:
    stream = await capnp.AsyncIoStream.create_unix_connection(str(path))
    rpc = capnp.TwoPartyClient(stream)
    init = rpc.bootstrap().cast_as(CORE.init.Init)
    threadmap = init.construct().threadMap
    thread = threadmap.makeThread("pythread").result
    ctx = CORE.proxy.Context()
    ctx.thread = thread
    return Client(ctx, init, rpc, stream)


async def until(signal: Signal, condition: Callable[[], bool]) -> None:
    """Return once ``condition()`` holds, looked at again on every fire of ``signal``."""
    event = asyncio.Event()
    with signal.watch(event):
        while not condition():
            event.clear()
            await event.wait()


async def while_waiting(node: Node, call: Awaitable[T], action: Callable[[], Any]) -> T:
    """Core's wait_and_do, without its sleep: ``action`` once the node has the wait."""
    before = node.service.waits

    async def waiting() -> T:
        return await call

    task = asyncio.ensure_future(waiting())
    await until(node.service.waits_changed, lambda: node.service.waits > before)
    done = action()
    if inspect.isawaitable(done):
        await done
    return await task


def remote_failure(error: capnp.KjException) -> str:
    assert error.type == "FAILED"
    return str(error.description)


# -- Init, Echo, the deprecated factory ------------------------------------------------------


def test_echo_round_trips_as_in_cores_interface_ipc(short_dir: Path) -> None:
    async def body() -> None:
        async with serving(short_dir, blocks=0) as node:
            client = await connect(node.path)
            echo = client.init.makeEcho(client.ctx).result
            for text in ["hallo", "", "haha"]:
                assert (await echo.echo(client.ctx, text)).result == text
            await echo.destroy(client.ctx)
            assert (
                await client.init.construct().threadMap.makeThread("t").result.getName()
            ).result == "t"
            client.close()

    run(body())


def test_the_old_mining_interface_is_refused_in_cores_words(short_dir: Path) -> None:
    async def body() -> None:
        async with serving(short_dir, blocks=0) as node:
            client = await connect(node.path)
            with pytest.raises(capnp.KjException) as raised:
                await client.init.makeMiningOld2()
            assert raised.value.description == (
                "remote exception: std::exception: Old mining interface (@2) not supported."
                " Please update your client!"
            )
            assert raised.value.type == "FAILED"
            client.close()

    run(body())


def test_get_tip_is_getbestblockhash_and_getblockcount(short_dir: Path) -> None:
    async def body() -> None:
        async with serving(short_dir) as node:
            client = await connect(node.path)
            mining = client.init.makeMining(client.ctx).result
            assert (await mining.isTestChain(client.ctx)).result
            assert not (await mining.isInitialBlockDownload(client.ctx)).result
            tip = await mining.getTip(client.ctx)
            assert tip.hasResult
            assert len(tip.result.hash) == 32
            best = json.loads(await node.node.execute_rpc("getbestblockhash", "[]"))
            assert hash_to_hex(bytes(tip.result.hash)) == best
            assert tip.result.height == json.loads(
                await node.node.execute_rpc("getblockcount", "[]")
            )
            client.close()

    run(body())


# -- Rpc ---------------------------------------------------------------------------------------


def test_execute_rpc_is_the_json_rpc_layer_without_http(short_dir: Path) -> None:
    async def body() -> None:
        async with serving(short_dir) as node:
            wallet = WalletService.open(short_dir / "wallet", "default", keypool_size=3)
            node.faces.attach(node.node, [WalletFace("default", wallet)])
            client = await connect(node.path)
            rpc = client.init.makeRpc(client.ctx).result

            async def execute(request: str, uri: str = "/") -> str:
                return str((await rpc.executeRpc(client.ctx, request, uri, "")).result)

            reply = json.loads(await execute('{"method":"getblockchaininfo","params":[],"id":1}'))
            expected = json.loads(await node.node.execute_rpc("getblockchaininfo", "[]"))
            assert reply["error"] is None and reply["id"] == 1
            assert reply["result"]["bestblockhash"] == expected["bestblockhash"]
            assert reply["result"]["blocks"] == 20
            # A wallet method reaches the wallet the URI names.
            address = json.loads(
                await execute('{"method":"getnewaddress","id":"a"}', "/wallet/default")
            )
            assert address["result"].startswith("bcrt1q")
            missing = json.loads(await execute('{"method":"getbalance","id":2}', "/wallet/nobody"))
            assert missing["error"] == {
                "code": -18,
                "message": "Requested wallet does not exist or is not loaded",
            }
            # Core's ExecuteHTTPRPC: a notification runs and is answered by nothing (null);
            # text that is no JSON is read as null, which is no request object.
            assert await execute('{"jsonrpc":"2.0","method":"getblockcount"}') == "null"
            assert json.loads(await execute("{not json")) == {
                "result": None,
                "error": {"code": -32700, "message": "Top-level object parse error"},
                "id": None,
            }
            batch = json.loads(await execute('[{"method":"getblockcount","id":1},{"id":2}]'))
            assert batch[0]["result"] == 20 and batch[1]["error"]["code"] == -32600
            echoed = json.loads(await execute('{"method":"echo","params":["foo"],"id":1}'))
            assert echoed["result"] == ["foo"]  # bitcoin-cli -ipcconnect's own test: echo foo
            client.close()
            await wallet.close()

    run(body())


# -- the endpoint's file ------------------------------------------------------------------------


def test_the_socket_is_private_whatever_the_umask_and_a_stale_one_is_replaced(
    short_dir: Path,
) -> None:
    async def body() -> None:
        path = short_dir / "regtest" / "node.sock"
        path.parent.mkdir()
        stale = coreipc.bind_unix(path)  # what a node killed by SIGKILL leaves behind
        stale.close()
        with pytest.raises(ConnectionRefusedError):  # nobody listens on it
            await connect(path)
        previous = os.umask(0)
        try:
            async with serving(short_dir, blocks=0) as node:
                assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
                client = await connect(node.path)
                assert (await client.init.makeEcho(client.ctx).result.echo(client.ctx, "x")).result
                client.close()
        finally:
            os.umask(previous)
        assert not path.exists()  # closing removes our own socket

    run(body())


@pytest.mark.parametrize("kind", ["symlink", "file", "directory"])
def test_anything_but_a_socket_at_the_path_is_refused_and_left_alone(
    short_dir: Path, kind: str
) -> None:
    path = short_dir / "node.sock"
    target = short_dir / "target"
    target.write_text("precious")
    if kind == "symlink":
        path.symlink_to(target)
    elif kind == "file":
        path.write_text("precious")
    else:
        path.mkdir()
    with pytest.raises(coreipc.CannotListen, match=r"exists and is not a socket"):
        coreipc.bind_unix(path)
    assert target.read_text() == "precious"
    assert path.is_symlink() == (kind == "symlink")
    assert path.exists()


def test_a_path_too_long_for_a_socket_is_refused_in_cores_words(short_dir: Path) -> None:
    path = short_dir / ("x" * 120) / "node.sock"
    with pytest.raises(coreipc.CannotListen, match=r"exceeded maximum socket path length"):
        coreipc.bind_unix(path)


def test_socket_path_reads_ipc_bind_as_core_reads_ipcbind(short_dir: Path) -> None:
    assert coreipc.socket_path("unix", short_dir) == short_dir / "regtest" / "node.sock"
    assert coreipc.socket_path("unix:other.sock", short_dir) == short_dir / "regtest" / "other.sock"
    assert coreipc.socket_path("unix:/run/x.sock", short_dir) == Path("/run/x.sock")
    assert coreipc.socket_path("", short_dir) is None


# -- many clients, and a client that dies mid-call ---------------------------------------------


def test_fifty_clients_connected_at_once_each_get_answers(short_dir: Path) -> None:
    async def body() -> None:
        async with serving(short_dir) as node:
            clients = [await connect(node.path) for _ in range(50)]
            await node.endpoint.wait_connections(50)

            async def ask(number: int, client: Client) -> tuple[str, int]:
                echo = client.init.makeEcho(client.ctx).result
                mining = client.init.makeMining(client.ctx).result
                text = (await echo.echo(client.ctx, f"client {number}")).result
                return text, (await mining.getTip(client.ctx)).result.height

            answers = await asyncio.gather(*(ask(n, c) for n, c in enumerate(clients)))
            assert answers == [(f"client {n}", 20) for n in range(50)]
            for client in clients:
                client.close()
            await node.endpoint.wait_connections(0)

    run(body())


CHILD = """
import asyncio, sys
import capnp
from ipc.capnp.coreipc import CORE

async def main():
    stream = await capnp.AsyncIoStream.create_unix_connection(sys.argv[1])
    init = capnp.TwoPartyClient(stream).bootstrap().cast_as(CORE.init.Init)
    ctx = CORE.proxy.Context()
    ctx.thread = init.construct().threadMap.makeThread("child").result
    mining = init.makeMining(ctx).result
    template = (await mining.createNewBlock(ctx, CORE.mining.BlockCreateOptions())).result
    options = CORE.mining.BlockWaitOptions()
    options.feeThreshold = 1
    await template.waitNext(ctx, options)  # killed while the node waits for fees

asyncio.run(capnp.run(main()))
"""


def test_a_client_killed_mid_wait_next_leaves_the_node_as_it_was(short_dir: Path) -> None:
    """Core's run_unclean_disconnect_test, with SIGKILL: the wait is cancelled, and every
    object the client held is released."""

    async def body() -> None:
        async with serving(short_dir) as node:
            gc.collect()
            baseline = coreipc.live_objects()
            child = subprocess.Popen(
                [sys.executable, "-c", CHILD, str(node.path)], cwd=ROOT, stdin=subprocess.DEVNULL
            )
            try:
                await until(node.service.waits_changed, lambda: node.service.waits == 1)
                assert node.endpoint.connections == 1
                assert coreipc.live_objects() > baseline
            finally:
                child.send_signal(signal.SIGKILL)
                child.wait()
            await node.endpoint.wait_connections(0)
            await until(node.service.waits_changed, lambda: node.service.waits == 0)
            gc.collect()
            assert coreipc.live_objects() == baseline
            await node.generate(1)  # the node is fine, and no stale waiter wakes
            client = await connect(node.path)
            mining = client.init.makeMining(client.ctx).result
            assert (await mining.getTip(client.ctx)).result.height == 21
            client.close()

    run(body())
