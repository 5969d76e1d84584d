"""Core's IPC Mining interface on a real node in this process, ported from Bitcoin Core's
test/functional/interface_ipc_mining.py (and its ipc_util.py helpers): a pycapnp client on
our schema files, with Core's call sequence and Core's expected values. Where Core's test
sleeps before acting ("wait_and_do"), these wait for the node to hold the wait instead.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import capnp
import pytest
from embit.script import Script, Witness
from embit.transaction import Transaction, TransactionInput, TransactionOutput

from btc.blocks import (
    Block,
    BlockHeader,
    genesis_block,
)
from btc.primitives import (
    COINBASE_PREVOUT_INDEX,
    MAX_BLOCK_WEIGHT,
    NULL_HASH,
    WITNESS_COMMITMENT_HEADER,
    bip34_height_script,
    hash_to_hex,
    parse_transaction,
    serialize_output,
    serialize_transaction,
    sha256d,
    subsidy,
    txid,
)
from ipc.capnp.coreipc import CORE
from node.store import Outpoint
from supervisor.minecli import read_output
from tests.blocks import Key, spend
from tests.test_core_ipc import (
    KEY,
    Client,
    Node,
    connect,
    remote_failure,
    run,
    serving,
    short_dir,
    until,
    while_waiting,
)

__all__ = ["short_dir"]  # the fixture, shared
PAYEE = Key.from_int(12).script("p2wpkh")
COIN = 100_000_000


async def mining_of(node: Node) -> tuple[Client, Any]:
    """Core's make_mining_ctx."""
    client = await connect(node.path)
    return client, client.init.makeMining(client.ctx).result


@asynccontextmanager
async def destroying(obj: Any, ctx: Any) -> Any:
    """Core's ipc_util.destroying: ``destroy`` the object at the end of the block."""
    try:
        yield obj
    finally:
        await obj.destroy(ctx)


async def create_template(mining: Any, stack: AsyncExitStack, ctx: Any, opts: Any) -> Any:
    response = await mining.createNewBlock(ctx, opts)
    if not response._has("result"):
        return None
    return await stack.enter_async_context(destroying(response.result, ctx))


async def wait_next(template: Any, stack: AsyncExitStack, ctx: Any, opts: Any) -> Any:
    response = await template.waitNext(ctx, opts)
    if not response._has("result"):
        return None
    return await stack.enter_async_context(destroying(response.result, ctx))


async def block_of(template: Any, ctx: Any) -> Block:
    """The template's block, through the project's own block parser."""
    return Block.parse(bytes((await template.getBlock(ctx)).result))


def wait_options(timeout_ms: float, fee_threshold: int) -> Any:
    options = CORE.mining.BlockWaitOptions()
    options.timeout = timeout_ms
    options.feeThreshold = fee_threshold
    return options


class Spender:
    """Mature coinbases of KEY (blocks 1, 2, ...), each spent once with a fee: Core's
    MiniWallet.send_self_transfer."""

    def __init__(self, node: Node) -> None:
        self.node = node
        self.height = 0

    def send(self, fee: int = 10_000) -> str:
        self.height += 1
        chain = self.node.node.chain
        first = chain.block(chain.store.hash_at(self.height)).txs[0]
        outpoint = Outpoint(txid(first), 0)
        coin = chain.coin(outpoint)
        tx = spend([(outpoint, coin)], [(coin.value - fee, KEY.script("p2wpkh"))], KEY)
        return self.node.node.broadcast(tx, max_fee_rate=0)


def build_coinbase(fields: Any, payout: bytes, height: int) -> Transaction:
    """Core's build_coinbase_test: from getCoinbaseTx, checking what Core checks on the way."""
    assert bytes(fields.scriptSigPrefix) == bip34_height_script(height)  # no dummy extraNonce
    witness = Witness([bytes(fields.witness)]) if fields._has("witness") else None
    coinbase = Transaction(
        version=fields.version,
        vin=[
            TransactionInput(
                NULL_HASH,
                COINBASE_PREVOUT_INDEX,
                Script(bytes(fields.scriptSigPrefix)),
                fields.sequence,
                witness,
            )
        ],
        vout=[TransactionOutput(fields.blockRewardRemaining, Script(payout))],
        locktime=fields.lockTime,
    )
    coinbase.vout += [read_output(bytes(output)) for output in fields.requiredOutputs]
    return coinbase


def solved(block: Block, **changes: int) -> Block:
    """``block`` with its merkle root recomputed and a nonce that meets the target."""
    header = block.header
    fields = {"version": header.version, "time": header.time, **changes}
    root = block.compute_merkle_root()[0]
    nonce = 0
    while True:
        candidate = BlockHeader(
            fields["version"], header.prev_hash, root, fields["time"], header.bits, nonce
        )
        if candidate.check_pow():
            return Block(candidate, block.txs)
        nonce += 1


@pytest.fixture
def timeout_ms() -> Iterator[float]:
    yield 1000.0  # Core's: 1000 ms times the timeout factor


# -- Mining ---------------------------------------------------------------------------------


def test_wait_tip_changed_returns_after_a_block_at_its_timeout_and_on_interrupt(
    short_dir: Path, timeout_ms: float
) -> None:
    """Core's run_mining_interface_test."""

    async def body() -> None:
        async with serving(short_dir) as node:
            client, mining = await mining_of(node)
            ctx = client.ctx
            blockref = await mining.getTip(ctx)
            assert blockref.result.height == 20
            newblockref = (
                await while_waiting(
                    node,
                    mining.waitTipChanged(ctx, blockref.result.hash, timeout_ms),
                    lambda: node.generate(1),
                )
            ).result
            assert len(newblockref.hash) == 32
            assert newblockref.height == 21
            oldblockref = (await mining.waitTipChanged(ctx, newblockref.hash, 50.0)).result
            assert bytes(oldblockref.hash) == bytes(newblockref.hash)  # the timeout: same tip
            assert oldblockref.height == newblockref.height
            # Unlike a timeout, interrupt() returns an empty BlockRef.
            result = (
                await while_waiting(
                    node,
                    mining.waitTipChanged(ctx, newblockref.hash, 60_000.0),
                    mining.interrupt,
                )
            ).result
            assert len(result.hash) == 0
            # An interrupt that comes first is kept: the next wait ends as it starts.
            await mining.interrupt()
            kept = (await mining.waitTipChanged(ctx, newblockref.hash, 60_000.0)).result
            assert len(kept.hash) == 0
            again = (await mining.waitTipChanged(ctx, newblockref.hash, 0.0)).result
            assert again.height == 21  # used up by the one wait
            client.close()

    run(body())


def test_create_new_block_waits_out_initial_block_download_and_interrupt_ends_it(
    short_dir: Path,
) -> None:
    """Core's cooldown part of run_block_template_test: no template during IBD (blocks a
    day old on regtest), one as soon as a recent block ends it, none after interrupt()."""

    async def body() -> None:
        async with serving(short_dir, blocks=0) as node:
            chain = node.node.chain
            clock = chain.clock
            chain.clock = lambda: genesis_block().header.time + 600.0  # blocks from 2011
            await node.generate(20)
            chain.clock = clock
            client, mining = await mining_of(node)
            assert (await mining.isInitialBlockDownload(client.ctx)).result
            opts = CORE.mining.BlockCreateOptions()
            interrupted = await while_waiting(
                node, mining.createNewBlock(client.ctx, opts), mining.interrupt
            )
            assert not interrupted._has("result")  # interrupt(): no template
            woken = await while_waiting(
                node, mining.createNewBlock(client.ctx, opts), lambda: node.generate(1)
            )
            assert woken._has("result")
            assert (await block_of(woken.result, client.ctx)).header.prev_hash == chain.tip().hash
            assert not (await mining.isInitialBlockDownload(client.ctx)).result
            client.close()

    run(body())


def test_no_template_below_height_17_as_in_core(short_dir: Path) -> None:
    """The height push alone is one byte below 17 (OP_1..OP_16): Core's own template check
    (test_block_validity) refuses the coinbase as too short."""

    async def body() -> None:
        async with serving(short_dir, blocks=15) as node:
            client, mining = await mining_of(node)
            with pytest.raises(capnp.KjException) as raised:
                await mining.createNewBlock(client.ctx, CORE.mining.BlockCreateOptions(), False)
            assert remote_failure(raised.value).startswith(
                "remote exception: std::exception: TestBlockValidity failed: bad-cb-length,"
            )
            await node.generate(1)
            made = await mining.createNewBlock(client.ctx, CORE.mining.BlockCreateOptions(), False)
            assert made._has("result")  # height 17: a two-byte push
            client.close()

    run(body())


def test_a_refusal_after_a_wait_still_carries_cores_text_and_nothing_of_ours(
    short_dir: Path,
) -> None:
    """A template refused once the cooldown is over (height 16): pycapnp cannot send that
    in Core's exact words (it prefixes "message = "), but sends Core's text, no traceback."""

    async def body() -> None:
        async with serving(short_dir, blocks=0) as node:
            chain = node.node.chain
            clock = chain.clock
            chain.clock = lambda: genesis_block().header.time + 600.0
            await node.generate(14)
            chain.clock = clock
            client, mining = await mining_of(node)
            with pytest.raises(capnp.KjException) as raised:
                await while_waiting(
                    node,
                    mining.createNewBlock(client.ctx, CORE.mining.BlockCreateOptions()),
                    lambda: node.generate(1),
                )
            text = remote_failure(raised.value)
            assert "std::exception: TestBlockValidity failed: bad-cb-length," in text
            assert "Traceback" not in text and ".py" not in text
            client.close()

    run(body())


def test_reserved_weight_is_checked_and_empties_the_template(short_dir: Path) -> None:
    """Core's run_ipc_option_override_test."""

    async def body() -> None:
        async with serving(short_dir, blocks=101) as node:
            Spender(node).send()
            client, mining = await mining_of(node)
            ctx = client.ctx
            async with AsyncExitStack() as stack:
                opts = CORE.mining.BlockCreateOptions()
                template = await create_template(mining, stack, ctx, opts)
                assert len((await block_of(template, ctx)).txs) == 2
                opts.blockReservedWeight = MAX_BLOCK_WEIGHT
                empty = await create_template(mining, stack, ctx, opts)
                assert len((await block_of(empty, ctx)).txs) == 1
                opts.useMempool = False
                opts.blockReservedWeight = 8000
                assert (
                    len((await block_of(await create_template(mining, stack, ctx, opts), ctx)).txs)
                    == 1
                )
            opts.blockReservedWeight = 0
            with pytest.raises(capnp.KjException) as raised:
                await mining.createNewBlock(ctx, opts)
            assert remote_failure(raised.value).startswith(
                "remote exception: std::exception: block_reserved_weight (0) must be at least"
                " 2000 weight units"
            )
            client.close()

    run(body())


# -- BlockTemplate ----------------------------------------------------------------------------


def test_template_inspectors_and_wait_next_as_in_cores_block_template_test(
    short_dir: Path, timeout_ms: float
) -> None:
    """Core's run_block_template_test, from "Create a template" on."""

    async def body() -> None:
        async with serving(short_dir, blocks=101) as node:
            spender = Spender(node)
            client, mining = await mining_of(node)
            ctx = client.ctx
            async with AsyncExitStack() as stack:
                opts = CORE.mining.BlockCreateOptions()
                template = await create_template(mining, stack, ctx, opts)
                header = bytes((await template.getBlockHeader(ctx)).result)
                assert len(header) == 80
                block = await block_of(template, ctx)
                assert block.header.serialize() == header
                assert hash_to_hex(block.header.prev_hash) == hash_to_hex(
                    node.node.chain.tip().hash
                )
                assert len(block.txs) >= 1
                assert len((await template.getTxFees(ctx)).result) == 0
                assert len((await template.getTxSigops(ctx)).result) == 0

                waitoptions = wait_options(timeout_ms, 1)
                template2 = await while_waiting(
                    node, wait_next(template, stack, ctx, waitoptions), lambda: node.generate(1)
                )
                assert len((await block_of(template2, ctx)).txs) == 1
                # Wait for another, but time out.
                assert await wait_next(template2, stack, ctx, wait_options(50.0, 1)) is None
                # Wait for another, get one after an increase in fees in the mempool.
                template4 = await while_waiting(
                    node, wait_next(template2, stack, ctx, waitoptions), spender.send
                )
                assert len((await block_of(template4, ctx)).txs) == 2
                assert list((await template4.getTxFees(ctx)).result) == [10_000]
                assert len((await template4.getTxSigops(ctx)).result) == 1
                # The fee threshold is zero: the same template again, at once.
                template5 = await wait_next(template4, stack, ctx, wait_options(timeout_ms, 0))
                assert len((await block_of(template5, ctx)).txs) == 2
                template6 = await while_waiting(
                    node, wait_next(template5, stack, ctx, waitoptions), spender.send
                )
                assert len((await block_of(template6, ctx)).txs) == 3
                # A fee threshold above what arrives: no new template before the timeout.
                high = wait_options(50.0, 10_001)
                spender.send(fee=10_000)
                assert await wait_next(template6, stack, ctx, high) is None
                # interruptWait() ends the current wait, and one that comes first is kept.
                long = wait_options(60_000.0, 1_000_000)
                interrupted = await while_waiting(
                    node, wait_next(template6, stack, ctx, long), template6.interruptWait
                )
                assert interrupted is None
                await template6.interruptWait()
                assert await wait_next(template6, stack, ctx, long) is None
            client.close()

    run(body())


def test_several_wait_next_on_one_template_all_return_after_a_block(short_dir: Path) -> None:
    """Core's run_thread_busy_test: three waitNext calls on one template at once."""

    async def body() -> None:
        async with serving(short_dir) as node:
            client, mining = await mining_of(node)
            ctx = client.ctx
            template = (await mining.createNewBlock(ctx, CORE.mining.BlockCreateOptions())).result
            options = wait_options(60_000.0, 1)
            calls = [
                asyncio.ensure_future(_await(template.waitNext(ctx, options))) for _ in range(3)
            ]
            await until(node.service.waits_changed, lambda: node.service.waits == 3)
            await node.generate(1)
            for call in calls:
                await (await call).result.destroy(ctx)
            await template.destroy(ctx)
            client.close()

    run(body())


async def _await(promise: Any) -> Any:
    return await promise


def check_coinbase_fields(fields: Any, block: Block, height: int, fee: int) -> None:
    """getCoinbaseTx as Core's BlockAssembler fills it in for the template's block."""
    assert (fields.version, fields.sequence, fields.lockTime) == (2, 0xFFFFFFFE, height - 1)
    assert bytes(fields.witness) == bytes(32)  # the BIP141 reserved value
    assert fields.blockRewardRemaining == subsidy(height) + fee
    commitment = block.txs[0].vout[-1]
    assert commitment.script_pubkey.data.startswith(WITNESS_COMMITMENT_HEADER)
    assert [bytes(o) for o in fields.requiredOutputs] == [serialize_output(commitment)]


def test_a_coinbase_from_get_coinbase_tx_is_solved_and_submitted(short_dir: Path) -> None:
    """Core's run_coinbase_and_submission_test."""

    async def body() -> None:
        async with serving(short_dir, blocks=101) as node:
            Spender(node).send(fee=12_345)
            client, mining = await mining_of(node)
            ctx = client.ctx
            height = node.node.chain.tip().height + 1
            check_opts = CORE.mining.BlockCheckOptions()
            opts = CORE.mining.BlockCreateOptions()
            async with destroying((await mining.createNewBlock(ctx, opts)).result, ctx) as template:
                block = await block_of(template, ctx)
                fields = (await template.getCoinbaseTx(ctx)).result
                check_coinbase_fields(fields, block, height, fee=12_345)
                coinbase = build_coinbase(fields, PAYEE, height)
                coinbase.vout[0].value = COIN  # Core: "Reduce payout for balance comparison"
                block.txs[0] = coinbase
                path = [bytes(step) for step in (await template.getCoinbaseMerklePath(ctx)).result]
                assert len(path) == 1  # one transaction beside the coinbase
                root = txid(coinbase)
                for sibling in path:
                    root = sha256d(root + sibling)
                assert root == block.compute_merkle_root()[0]

                with pytest.raises(capnp.KjException) as raised:
                    await template.submitSolution(ctx, 0, 0, 0, b"")
                assert remote_failure(raised.value).startswith(
                    "remote exception: std::exception: SpanReader::read(): end of data:"
                )

                bad = solved(block, version=0)
                check = await mining.checkBlock(ctx, bad.serialize(), check_opts)
                assert (check.result, check.reason) == (False, "bad-version(0x00000000)")
                assert check.debug == "rejected nVersion=0x00000000 block"
                submitted = await template.submitSolution(
                    ctx, 0, bad.header.time, bad.header.nonce, serialize_transaction(coinbase)
                )
                assert submitted.result is False

                good = solved(block)
                assert (await mining.checkBlock(ctx, good.serialize(), check_opts)).result
                before = bytes((await template.getBlock(ctx)).result)
                stripped = serialize_transaction(coinbase, witness=False)
                assert stripped != serialize_transaction(coinbase)
                version, when, nonce = good.header.version, good.header.time, good.header.nonce
                assert not (
                    await template.submitSolution(ctx, version, when, nonce, stripped)
                ).result
                # Even a rejected submitSolution() changes the template's block.
                assert bytes((await template.getBlock(ctx)).result) != before
                raw = serialize_transaction(coinbase)
                assert (await template.submitSolution(ctx, version, when, nonce, raw)).result

            tip = node.node.chain.tip()
            assert (tip.height, tip.hash) == (height, good.header.hash_bytes)
            paid = node.node.chain.coin(Outpoint(txid(coinbase), 0))
            assert paid is not None and (paid.value, paid.script_pubkey) == (COIN, PAYEE)
            check = await mining.checkBlock(ctx, good.serialize(), check_opts)
            assert (check.result, check.reason) == (False, "inconclusive-not-best-prevblk")
            client.close()

    run(body())


def test_check_block_reasons_and_its_options(short_dir: Path) -> None:
    """checkBlock answers submitblock's reject reasons; without proof of work or merkle root
    checks, a template built elsewhere can be checked before it is solved."""

    async def body() -> None:
        async with serving(short_dir) as node:
            client, mining = await mining_of(node)
            ctx = client.ctx
            template = (await mining.createNewBlock(ctx, CORE.mining.BlockCreateOptions())).result
            raw = bytes((await template.getBlock(ctx)).result)
            default = CORE.mining.BlockCheckOptions()
            unsolved = await mining.checkBlock(ctx, raw, default)
            assert unsolved.result is False
            assert unsolved.reason in ("high-hash", "bad-txnmrklroot")  # the root is zero
            lenient = CORE.mining.BlockCheckOptions()
            lenient.checkPow = False
            lenient.checkMerkleRoot = False
            assert (await mining.checkBlock(ctx, raw, lenient)).result
            block = Block.parse(raw)
            rich = Block(block.header, [_paying(block.txs[0], 1), *block.txs[1:]])
            check = await mining.checkBlock(ctx, solved(rich).serialize(), default)
            assert (check.result, check.reason) == (False, "bad-cb-amount")
            old = solved(block, time=node.node.chain.tip().time - 3600)
            assert (await mining.checkBlock(ctx, old.serialize(), default)).reason == "time-too-old"
            future = solved(block, time=int(time.time()) + 3 * 3600)
            assert (
                await mining.checkBlock(ctx, future.serialize(), default)
            ).reason == "time-too-new"
            with pytest.raises(capnp.KjException) as raised:
                await mining.checkBlock(ctx, raw[:50], default)
            assert "SpanReader::read(): end of data" in remote_failure(raised.value)
            client.close()

    run(body())


def _paying(coinbase: Transaction, more: int) -> Transaction:
    copy = parse_transaction(serialize_transaction(coinbase))
    copy.vout[0].value += more
    return copy
