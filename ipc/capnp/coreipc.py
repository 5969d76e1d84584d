"""Bitcoin Core's own IPC protocol (``ipc/capnp/core/*.capnp``): the node's servers for
Core's ``Init``, ``Echo``, ``Mining``, ``BlockTemplate`` and ``Rpc``, and the ``node.sock``
listener. The client a ``bitcoin-node`` client is, is ``ipc.capnp.coreclient``.

Hand-written rather than ``proxy.server``'s, because the conventions are libmultiprocess's,
not ours: every call carries a ``Context`` (its ``thread`` is accepted, even still
pipelined, and never needed: a Python server runs every call on its one loop);
``Init.construct`` hands out a ``ThreadMap`` whose threads only know their names; results
are ``result`` (with ``hasResult`` for an optional one); ``destroy`` releases the object;
a failure is a plain exception whose text a client reads as ``std::exception: <text>``.

pycapnp sends that text exactly only for an exception raised before the call's coroutine
starts; one raised after it awaited is sent as ``message = std::exception: <text>`` (it
formats the exception: without a traceback, that is its type's name and text, so nothing
of our code crosses). So every call that Core may refuse refuses before it waits: the
servers call the ``ipc.mining`` methods synchronously and await only what they return.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import stat
import weakref
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import capnp
import structlog

from ipc.errors import SplitdError
from ipc.mining import (
    BlockCheck,
    BlockCheckOptions,
    BlockCreateOptions,
    BlockRef,
    BlockTemplate,
    BlockWaitOptions,
    CoinbaseTx,
    CoreInit,
    Echo,
    Mining,
    Rpc,
)

T = TypeVar("T")
log = structlog.get_logger("ipc")
_HERE = Path(__file__).parent / "core"
MAX_SOCKET_PATH = 107  # sun_path is 108 bytes with its terminating NUL
LISTEN_BACKLOG = 128
INTERNAL = "internal error in the node; its log has the details"
DESTROYED = "the object was destroyed"
OLD_MINING = "Old mining interface (@2) not supported. Please update your client!"


@dataclass(frozen=True)
class Schemas:
    """Our copies of Core's schema files, loaded once (they import each other)."""

    init: Any
    echo: Any
    mining: Any
    common: Any
    rpc: Any
    proxy: Any


CORE = Schemas(*(capnp.load(str(_HERE / f"{name}.capnp")) for name in Schemas.__dataclass_fields__))

# -- failures, in Core's words -------------------------------------------------------------


class _StdExceptionType(type):
    def __repr__(cls) -> str:
        return "std::exception"


class CoreFailure(Exception, metaclass=_StdExceptionType):
    """Raised while a call starts: pycapnp sends ``repr(type) + ":" + str(error)``, which is
    ``std::exception: <text>``, the words a C++ server's ``std::exception`` reaches a
    client in ("remote exception: std::exception: <text>")."""

    def __str__(self) -> str:
        return f" {self.args[0]}"


class LateFailure(Exception):
    """Raised by a call that has waited: pycapnp sends what ``traceback.format_exception``
    makes of it, which for an exception without a traceback is ``std::exception: <text>``."""

    @property  # type: ignore[override]
    def __traceback__(self) -> None:  # pycapnp reads it to format the failure: nothing to show
        return None

    @__traceback__.setter
    def __traceback__(self, _value: object) -> None:
        pass


LateFailure.__module__ = "builtins"
LateFailure.__qualname__ = "std::exception"


def _text(error: Exception, where: str) -> str:
    """What a client is told of ``error``: a splitd error's message; for a bug, that it
    happened (logged here with its traceback)."""
    if isinstance(error, SplitdError):
        return error.message
    log.error("ipc_call_failed", call=where, exc_info=error)
    return INTERNAL


async def _done() -> None:
    return None


# -- servers -------------------------------------------------------------------------------

LIVE: weakref.WeakSet[Any] = weakref.WeakSet()  # every server object a client holds


def live_objects() -> int:
    """How many of our objects clients hold: back where it was once a client has gone."""
    return len(LIVE)


class _Served:
    """What every server shares: its implementation (None once destroyed), its count."""

    def __init__(self, impl: Any = None) -> None:
        self._impl = impl
        LIVE.add(self)

    def _now(self, where: str, act: Callable[[Any], T]) -> T:
        """``act(impl)`` now; a refusal fails the call in Core's words."""
        if self._impl is None:
            raise CoreFailure(DESTROYED)
        try:
            return act(self._impl)
        except Exception as error:
            raise CoreFailure(_text(error, where)) from None

    def _answer(self, where: str, call: Any, write: Callable[[Any, Any], None]) -> Coroutine:
        """A call answered at once: ``write(impl, results)``."""
        self._now(where, lambda impl: write(impl, call.results))
        return _done()

    @staticmethod
    async def _later(where: str, call: Any, pending: Awaitable[T], write: Callable[[Any, T], None]):
        """A call that waits for ``pending``, then ``write(results, value)``. A client that
        goes away cancels it: the wait ends, and whatever it was holding with it."""
        try:
            value = await pending
        except asyncio.CancelledError:
            raise
        except Exception as error:
            raise LateFailure(_text(error, where)) from None
        write(call.results, value)


class ThreadServer(_Served, CORE.proxy.Thread.Server):
    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name

    def getName_context(self, call: Any) -> Coroutine:
        call.results.result = self.name
        return _done()


class ThreadMapServer(_Served, CORE.proxy.ThreadMap.Server):
    def makeThread_context(self, call: Any) -> Coroutine:
        call.results.result = ThreadServer(call.params.name)
        return _done()


class EchoServer(_Served, CORE.echo.Echo.Server):
    def echo_context(self, call: Any) -> Coroutine:
        text = call.params.echo
        return self._answer("Echo.echo", call, lambda e, r: setattr(r, "result", e.echo(text)))

    def destroy_context(self, call: Any) -> Coroutine:
        self._now("Echo.destroy", lambda echo: echo.destroy())
        self._impl = None
        return _done()


class RpcServer(_Served, CORE.rpc.Rpc.Server):
    def executeRpc_context(self, call: Any) -> Coroutine:
        params = call.params
        request, uri, user = params.request, params.uri, params.user
        pending = self._now("Rpc.executeRpc", lambda rpc: rpc.execute_rpc(request, uri, user))
        return self._later("Rpc.executeRpc", call, pending, _set_result)


def _set_result(results: Any, value: Any) -> None:
    results.result = value


def _set_ref(results: Any, ref: BlockRef | None) -> None:
    if ref is not None:
        results.result = {"hash": ref.hash, "height": ref.height}


def _set_template(results: Any, template: BlockTemplate | None) -> None:
    if template is not None:
        results.result = TemplateServer(template)


def create_options(reader: Any) -> BlockCreateOptions:
    return BlockCreateOptions(
        use_mempool=reader.useMempool,
        block_reserved_weight=reader.blockReservedWeight,
        coinbase_output_max_additional_sigops=reader.coinbaseOutputMaxAdditionalSigops,
    )


def wait_options(reader: Any) -> BlockWaitOptions:
    return BlockWaitOptions(timeout_ms=reader.timeout, fee_threshold=reader.feeThreshold)


def check_options(reader: Any) -> BlockCheckOptions:
    return BlockCheckOptions(check_merkle_root=reader.checkMerkleRoot, check_pow=reader.checkPow)


def _coinbase_fields(coinbase: CoinbaseTx) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "version": coinbase.version,
        "sequence": coinbase.sequence,
        "scriptSigPrefix": coinbase.script_sig_prefix,
        "blockRewardRemaining": coinbase.block_reward_remaining,
        "requiredOutputs": list(coinbase.required_outputs),
        "lockTime": coinbase.lock_time,
    }
    if coinbase.witness is not None:  # unset, not empty, when there is none (Core's optional)
        fields["witness"] = coinbase.witness
    return fields


class MiningServer(_Served, CORE.mining.Mining.Server):
    def isTestChain_context(self, call: Any) -> Coroutine:
        return self._answer(
            "Mining.isTestChain", call, lambda m, r: setattr(r, "result", m.is_test_chain())
        )

    def isInitialBlockDownload_context(self, call: Any) -> Coroutine:
        def write(mining: Mining, results: Any) -> None:
            results.result = mining.is_initial_block_download()

        return self._answer("Mining.isInitialBlockDownload", call, write)

    def getTip_context(self, call: Any) -> Coroutine:
        def write(mining: Mining, results: Any) -> None:
            tip = mining.get_tip()
            _set_ref(results, tip)
            results.hasResult = tip is not None

        return self._answer("Mining.getTip", call, write)

    def waitTipChanged_context(self, call: Any) -> Coroutine:
        current, timeout = bytes(call.params.currentTip), call.params.timeout
        pending = self._now("Mining.waitTipChanged", lambda m: m.wait_tip_changed(current, timeout))
        return self._later("Mining.waitTipChanged", call, pending, _set_ref)

    def createNewBlock_context(self, call: Any) -> Coroutine:
        options, cooldown = create_options(call.params.options), call.params.cooldown
        pending = self._now(
            "Mining.createNewBlock", lambda m: m.create_new_block(options, cooldown)
        )
        return self._later("Mining.createNewBlock", call, pending, _set_template)

    def checkBlock_context(self, call: Any) -> Coroutine:
        block, options = bytes(call.params.block), check_options(call.params.options)

        def write(mining: Mining, results: Any) -> None:
            check: BlockCheck = mining.check_block(block, options)
            results.reason, results.debug, results.result = check.reason, check.debug, check.valid

        return self._answer("Mining.checkBlock", call, write)

    def interrupt_context(self, call: Any) -> Coroutine:
        return self._answer("Mining.interrupt", call, lambda m, _: m.interrupt())


class TemplateServer(_Served, CORE.mining.BlockTemplate.Server):
    def _get(self, where: str, call: Any, get: Callable[[BlockTemplate], Any]) -> Coroutine:
        return self._answer(where, call, lambda t, r: setattr(r, "result", get(t)))

    def destroy_context(self, call: Any) -> Coroutine:
        self._now("BlockTemplate.destroy", lambda template: template.destroy())
        self._impl = None
        return _done()

    def getBlockHeader_context(self, call: Any) -> Coroutine:
        return self._get("BlockTemplate.getBlockHeader", call, lambda t: t.get_block_header())

    def getBlock_context(self, call: Any) -> Coroutine:
        return self._get("BlockTemplate.getBlock", call, lambda t: t.get_block())

    def getTxFees_context(self, call: Any) -> Coroutine:
        return self._get("BlockTemplate.getTxFees", call, lambda t: t.get_tx_fees())

    def getTxSigops_context(self, call: Any) -> Coroutine:
        return self._get("BlockTemplate.getTxSigops", call, lambda t: t.get_tx_sigops())

    def getCoinbaseTx_context(self, call: Any) -> Coroutine:
        return self._get(
            "BlockTemplate.getCoinbaseTx", call, lambda t: _coinbase_fields(t.get_coinbase_tx())
        )

    def getCoinbaseMerklePath_context(self, call: Any) -> Coroutine:
        return self._get(
            "BlockTemplate.getCoinbaseMerklePath", call, lambda t: t.get_coinbase_merkle_path()
        )

    def submitSolution_context(self, call: Any) -> Coroutine:
        p = call.params
        version, timestamp, nonce, coinbase = p.version, p.timestamp, p.nonce, bytes(p.coinbase)
        return self._get(
            "BlockTemplate.submitSolution",
            call,
            lambda t: t.submit_solution(version, timestamp, nonce, coinbase),
        )

    def waitNext_context(self, call: Any) -> Coroutine:
        options = wait_options(call.params.options)
        pending = self._now("BlockTemplate.waitNext", lambda t: t.wait_next(options))
        return self._later("BlockTemplate.waitNext", call, pending, _set_template)

    def interruptWait_context(self, call: Any) -> Coroutine:
        return self._answer("BlockTemplate.interruptWait", call, lambda t, _: t.interrupt_wait())


class InitServer(_Served, CORE.init.Init.Server):
    """Core's ``Init``, one per connection (each client's bootstrap object)."""

    def construct_context(self, call: Any) -> Coroutine:
        call.results.threadMap = ThreadMapServer()
        return _done()

    def makeEcho_context(self, call: Any) -> Coroutine:
        echo: Echo = self._now("Init.makeEcho", lambda core: core.make_echo())
        call.results.result = EchoServer(echo)
        return _done()

    def makeMining_context(self, call: Any) -> Coroutine:
        mining: Mining = self._now("Init.makeMining", lambda core: core.make_mining())
        call.results.result = MiningServer(mining)
        return _done()

    def makeRpc_context(self, call: Any) -> Coroutine:
        rpc: Rpc = self._now("Init.makeRpc", lambda core: core.make_rpc())
        call.results.result = RpcServer(rpc)
        return _done()

    def makeMiningOld2_context(self, call: Any) -> Coroutine:
        raise CoreFailure(OLD_MINING)


# -- the listener --------------------------------------------------------------------------

CHAIN_DIR = "regtest"  # Core's GetDataDirNet() on regtest: where node.sock and .cookie live
SOCKET_NAME = "node.sock"


def socket_path(address: str, datadir: Path) -> Path | None:
    """Where an address names the socket, as Core's ``-ipcbind``/``-ipcconnect`` read it:
    "unix" is ``<datadir>/regtest/node.sock``, "unix:PATH" is PATH (relative to
    ``<datadir>/regtest``), "" is nowhere (``ipc.bind`` off)."""
    if not address:
        return None
    base = datadir / CHAIN_DIR
    return base / SOCKET_NAME if address == "unix" else base / address.removeprefix("unix:")


class CannotListen(Exception):
    """Why no endpoint could be opened at the path, in one line."""


def _refusal(path: Path) -> str | None:
    """Why ``path`` is no place for our socket: something that is no socket is there (a
    symlink is never followed, a file never removed). A socket there is stale, or another
    node's: as Core does, the node starting now takes the path."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return None
    if stat.S_ISSOCK(mode):
        return None
    kind = (
        "a symbolic link"
        if stat.S_ISLNK(mode)
        else "a directory"
        if stat.S_ISDIR(mode)
        else "a file"
    )
    return f"{path} exists and is not a socket ({kind}); not replaced"


def bind_unix(path: Path) -> socket.socket:
    """A listening socket at ``path``, mode 0600 whatever the umask; ``CannotListen``."""
    if len(os.fsencode(path)) > MAX_SOCKET_PATH:
        raise CannotListen(f'Unix address path "{path}" exceeded maximum socket path length')
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        refusal = _refusal(path)
        if refusal is not None:
            raise CannotListen(refusal)
        path.unlink(missing_ok=True)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        previous = os.umask(0o177)  # nothing awaits in between: no other file is made meanwhile
        try:
            sock.bind(os.fsencode(path))
        except OSError:
            sock.close()
            raise
        finally:
            os.umask(previous)
        sock.listen(LISTEN_BACKLOG)
    except OSError as error:
        raise CannotListen(f"{path}: {error.strerror or error}") from None
    return sock


class Endpoint:
    """Core's ``Init`` served on a unix socket: every connection gets its own, and as many
    connections as come are served at once. ``connections`` counts the live ones."""

    def __init__(self, path: Path, core: CoreInit) -> None:
        self.path = path
        self.core = core
        self.connections = 0
        self.changed = asyncio.Event()  # set, then replaced, whenever a connection comes or goes
        self._server: asyncio.AbstractServer | None = None
        self._inode: int | None = None

    async def start(self) -> None:
        sock = bind_unix(self.path)
        self._inode = os.stat(self.path).st_ino
        self._server = await capnp.AsyncIoStream.create_unix_server(self._serve, sock=sock)

    def _count(self, step: int) -> None:
        self.connections += step
        self.changed.set()
        self.changed = asyncio.Event()

    async def _serve(self, stream: Any) -> None:
        rpc = capnp.TwoPartyServer(stream, bootstrap=InitServer(self.core))
        self._count(+1)
        try:
            await rpc.on_disconnect()
        except asyncio.CancelledError:
            return  # the endpoint is closing with this client connected: nothing to report
        finally:
            rpc.close()
            stream.close()
            self._count(-1)

    async def wait_connections(self, count: int) -> None:
        """Return once exactly ``count`` connections are live."""
        while self.connections != count:
            await self.changed.wait()

    def close(self) -> None:
        """Stop listening, and remove the socket file if it is still ours."""
        if self._server is not None:
            self._server.close()
        with contextlib.suppress(OSError):
            if os.lstat(self.path).st_ino == self._inode:
                self.path.unlink()


async def listen(path: Path, core: CoreInit) -> Endpoint:
    """Serve ``core`` on ``path``; ``CannotListen`` if nothing can listen there."""
    endpoint = Endpoint(path, core)
    await endpoint.start()
    return endpoint
