"""A client of Bitcoin Core's IPC on ``node.sock``, as a ``bitcoin-node`` client is:
``splitd node --ipcconnect``, ``splitd mine``, the benchmark. Plain values in and out
(``ipc.mining``'s); a refusal comes back as ``MiningError`` with Core's text.
"""

from __future__ import annotations

from collections.abc import Awaitable
from pathlib import Path
from typing import Any, TypeVar

import capnp

from ipc.capnp.coreipc import CORE
from ipc.errors import SplitdError, WorkerUnavailable
from ipc.mining import (
    BlockCheck,
    BlockCheckOptions,
    BlockCreateOptions,
    BlockRef,
    BlockWaitOptions,
    CoinbaseTx,
    MiningError,
)

T = TypeVar("T")
REMOTE_PREFIX = "remote exception: std::exception: "


def _failure(error: capnp.KjException) -> SplitdError:
    """A failed call as a splitd error: Core's text for a refusal, a lost node otherwise."""
    if error.type == "DISCONNECTED":
        return WorkerUnavailable("the node closed its IPC connection")
    text = error.description
    return MiningError(text[len(REMOTE_PREFIX) :] if text.startswith(REMOTE_PREFIX) else text)


async def _call(promise: Awaitable[T]) -> T:
    try:
        return await promise
    except capnp.KjException as error:
        raise _failure(error) from None


class CoreClient:
    """A client of ``node.sock`` as Core's functional tests and bitcoin-cli are: connect,
    ``construct``, ``makeThread``, and a ``Context`` naming that thread on every call."""

    def __init__(self, stream: Any, rpc: Any, init: Any, context: Any) -> None:
        self._stream = stream
        self._rpc = rpc
        self.init = init
        self.context = context

    @classmethod
    async def connect(cls, path: Path, thread: str = "splitd") -> CoreClient:
        """``OSError`` (its ``errno`` says why) when nothing listens at ``path``."""
        stream = await capnp.AsyncIoStream.create_unix_connection(str(path))
        rpc = capnp.TwoPartyClient(stream)
        init = rpc.bootstrap().cast_as(CORE.init.Init)
        thread_map = init.construct().threadMap  # pipelined, as Core's clients do
        context = CORE.proxy.Context.new_message()
        context.thread = thread_map.makeThread(thread).result
        return cls(stream, rpc, init, context)

    def close(self) -> None:
        self._rpc.close()
        self._stream.close()

    async def echo(self, text: str) -> str:
        echo = self.init.makeEcho(self.context).result
        return str((await _call(echo.echo(self.context, text))).result)

    async def execute_rpc(self, request: str, uri: str = "/", user: str = "") -> str:
        rpc = self.init.makeRpc(self.context).result
        return str((await _call(rpc.executeRpc(self.context, request, uri, user))).result)

    def mining(self) -> RemoteMining:
        return RemoteMining(self.init.makeMining(self.context).result, self.context)


class RemoteMining:
    """A ``Mining`` on the other side of ``node.sock``, in plain values."""

    def __init__(self, cap: Any, context: Any) -> None:
        self.cap = cap
        self.context = context

    async def get_tip(self) -> BlockRef | None:
        reply = await _call(self.cap.getTip(self.context))
        return BlockRef(bytes(reply.result.hash), reply.result.height) if reply.hasResult else None

    async def wait_tip_changed(self, current: bytes, timeout_ms: float) -> BlockRef | None:
        result = (await _call(self.cap.waitTipChanged(self.context, current, timeout_ms))).result
        return BlockRef(bytes(result.hash), result.height) if len(result.hash) else None

    async def create_new_block(
        self, options: BlockCreateOptions | None = None, cooldown: bool = True
    ) -> RemoteTemplate | None:
        given = options or BlockCreateOptions()
        wire = {
            "useMempool": given.use_mempool,
            "blockReservedWeight": given.block_reserved_weight,
            "coinbaseOutputMaxAdditionalSigops": given.coinbase_output_max_additional_sigops,
        }
        reply = await _call(self.cap.createNewBlock(self.context, wire, cooldown))
        return RemoteTemplate(reply.result, self.context) if reply._has("result") else None

    async def check_block(
        self, block: bytes, options: BlockCheckOptions | None = None
    ) -> BlockCheck:
        given = options or BlockCheckOptions()
        wire = {"checkMerkleRoot": given.check_merkle_root, "checkPow": given.check_pow}
        reply = await _call(self.cap.checkBlock(self.context, block, wire))
        return BlockCheck(reply.result, reply.reason, reply.debug)

    async def interrupt(self) -> None:
        await _call(self.cap.interrupt())


class RemoteTemplate:
    """A ``BlockTemplate`` on the other side of ``node.sock``, in plain values."""

    def __init__(self, cap: Any, context: Any) -> None:
        self.cap = cap
        self.context = context

    async def _result(self, method: str, *args: Any) -> Any:
        return (await _call(getattr(self.cap, method)(self.context, *args))).result

    async def get_block_header(self) -> bytes:
        return bytes(await self._result("getBlockHeader"))

    async def get_block(self) -> bytes:
        return bytes(await self._result("getBlock"))

    async def get_tx_fees(self) -> list[int]:
        return list(await self._result("getTxFees"))

    async def get_coinbase_tx(self) -> CoinbaseTx:
        found = await self._result("getCoinbaseTx")
        return CoinbaseTx(
            version=found.version,
            sequence=found.sequence,
            script_sig_prefix=bytes(found.scriptSigPrefix),
            witness=bytes(found.witness) if found._has("witness") else None,
            block_reward_remaining=found.blockRewardRemaining,
            required_outputs=[bytes(output) for output in found.requiredOutputs],
            lock_time=found.lockTime,
        )

    async def get_coinbase_merkle_path(self) -> list[bytes]:
        return [bytes(step) for step in await self._result("getCoinbaseMerklePath")]

    async def submit_solution(
        self, version: int, timestamp: int, nonce: int, coinbase: bytes
    ) -> bool:
        return bool(await self._result("submitSolution", version, timestamp, nonce, coinbase))

    async def wait_next(self, options: BlockWaitOptions | None = None) -> RemoteTemplate | None:
        given = options or BlockWaitOptions()
        wire = {"timeout": given.timeout_ms, "feeThreshold": given.fee_threshold}
        reply = await _call(self.cap.waitNext(self.context, wire))
        return RemoteTemplate(reply.result, self.context) if reply._has("result") else None

    async def interrupt_wait(self) -> None:
        await _call(self.cap.interruptWait())

    async def destroy(self) -> None:
        await _call(self.cap.destroy(self.context))
