"""Nothing the node may hold is unknown to the wallet: record, then broadcast (Core's
CommitTransaction), learn the node's mempool on attach, and answer as of the chain's tip.

A wallet process killed at an instant is played here by a broadcast that never returns
to the wallet (``Killed``, which nothing in the wallet catches): what the wallet did
before that instant is on disk, what it would have done after never happens. The
wallet is then reopened from its file, as a restarted worker would be.
"""

from __future__ import annotations

import asyncio
import os
import stat
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

import wallet.service
from btc.primitives import parse_transaction, serialize_transaction
from ipc.interfaces import StartFailure, TxRejected, WorkerUnavailable
from tests.rpcwords import cli
from tests.walletchain import (
    COIN,
    OTHER,
    OTHER_ADDRESS,
    BlockChain,
    funded,
    new_script,
    opened,
    payment_to,
    rpc,
)
from wallet.db import WALLET_FILE, WalletDB
from wallet.files import WalletFileRefused
from wallet.service import WalletService


class Killed(BaseException):
    """The wallet process dies here: no handler of the wallet's runs after this."""


def die_after_accepting(chain: BlockChain) -> None:
    """The node takes the transaction; the wallet dies before it hears the answer."""
    accept = chain.broadcast_transaction

    async def broadcast(tx: bytes) -> str:
        await accept(tx)
        raise Killed

    chain.broadcast_transaction = broadcast  # type: ignore[method-assign]


def die_before_sending(chain: BlockChain) -> None:
    async def broadcast(tx: bytes) -> str:
        raise Killed

    chain.broadcast_transaction = broadcast  # type: ignore[method-assign]


async def killed_mid_send(service: WalletService, address: str, amount: str) -> None:
    with pytest.raises(Killed):
        await rpc(service, "sendtoaddress", address, amount)
    service.db.close()  # the process is gone: only what reached the file remains


def restore(chain: BlockChain) -> None:
    """The restarted node's broadcast is the real one again."""
    del chain.broadcast_transaction


def spent_outpoints(chain: BlockChain) -> set[tuple[str, int]]:
    return {
        (txin.txid.hex(), txin.vout)
        for raw in chain.mempool.values()
        for txin in parse_transaction(raw).vin
    }


async def test_a_send_is_on_disk_with_its_coins_spent_before_the_node_hears_of_it(
    tmp_path: Path,
):
    chain = BlockChain()
    async with funded(tmp_path, chain) as service:
        seen: list[tuple[int, int]] = []
        accept = chain.broadcast_transaction

        async def broadcast(tx: bytes) -> str:
            # Another connection to the file, as a reader after a crash would see it.
            other = WalletDB.open(tmp_path / WALLET_FILE)
            try:
                seen.append((other.tx_count(), len(other.coins())))
            finally:
                other.close()
            return await accept(tx)

        chain.broadcast_transaction = broadcast  # type: ignore[method-assign]
        await rpc(service, "sendtoaddress", OTHER_ADDRESS, "1")
        # Two transactions (the coinbase and the send); the only unspent coin is the change.
        assert seen == [(2, 1)]


async def test_a_wallet_killed_after_the_node_accepted_its_send_knows_the_send(tmp_path: Path):
    chain = BlockChain()
    async with funded(tmp_path, chain) as service:
        die_after_accepting(chain)
        await killed_mid_send(service, OTHER_ADDRESS, "1")
    restore(chain)
    [in_mempool] = chain.mempool
    async with opened(tmp_path) as service:
        await service.attach(chain)
        assert (await rpc(service, "gettransaction", in_mempool))["confirmations"] == 0
        unspent = await rpc(service, "listunspent", "0")
        assert not {(c["txid"], c["vout"]) for c in unspent} & spent_outpoints(chain)
        # The balance is what is left: 50 - 1 - the fee, in the change.
        [change] = unspent
        assert change["txid"] == in_mempool
        assert await rpc(service, "getbalance") == change["amount"] > Decimal(48)
        for _ in range(5):  # and the next sends build on it, never conflicting
            await rpc(service, "sendtoaddress", OTHER_ADDRESS, "1")
        assert len(chain.mempool) == 6


async def test_a_wallet_killed_before_broadcasting_sends_it_at_its_next_attach(tmp_path: Path):
    chain = BlockChain()
    async with funded(tmp_path, chain) as service:
        die_before_sending(chain)
        await killed_mid_send(service, OTHER_ADDRESS, "1")
    restore(chain)
    assert chain.mempool == {}
    async with opened(tmp_path) as service:
        await service.attach(chain)
        [pending] = [t for t in await rpc(service, "listtransactions") if t["category"] == "send"]
        assert list(chain.mempool) == [pending["txid"]]
        assert (await rpc(service, "getbalances"))["mine"]["trusted"] > Decimal(48)


async def test_a_refused_send_is_abandoned_and_its_coins_are_spendable_again(tmp_path: Path):
    chain = BlockChain()
    async with funded(tmp_path, chain) as service:

        async def refuse(tx: bytes) -> str:
            raise TxRejected("min relay fee not met")

        chain.broadcast_transaction = refuse  # type: ignore[method-assign]
        with pytest.raises(TxRejected, match="min relay fee not met"):
            await rpc(service, "sendtoaddress", OTHER_ADDRESS, "1")
        assert await service.execute_rpc("getbalance", cli("getbalance", [])) == "50.00000000"
        [send] = [t for t in await rpc(service, "listtransactions") if t["category"] == "send"]
        assert send["abandoned"] is True
        assert send["confirmations"] == 0
        restore(chain)
        txid = await rpc(service, "sendtoaddress", OTHER_ADDRESS, "1")
        assert list(chain.mempool) == [txid]


async def test_a_send_the_node_never_answered_is_acknowledged_and_goes_out_later(
    tmp_path: Path,
):
    chain = BlockChain()
    async with funded(tmp_path, chain) as service:

        async def gone(tx: bytes) -> str:
            raise WorkerUnavailable("the node restarted during the call; retry")

        chain.broadcast_transaction = gone  # type: ignore[method-assign]
        with capture_logs() as logs:
            txid = await rpc(service, "sendtoaddress", OTHER_ADDRESS, "1")
        assert [r["txid"] for r in logs if r["event"] == "wallet_tx_pending"] == [txid]
        assert (await rpc(service, "gettransaction", txid))["confirmations"] == 0
        restarted = chain.copy()  # the node is back, its mempool empty
        await service.attach(restarted)
        assert list(restarted.mempool) == [txid]


async def test_attach_learns_what_the_mempool_holds_that_no_notification_told(tmp_path: Path):
    chain = BlockChain()
    async with opened(tmp_path) as service:
        await service.attach(chain)
        script = await new_script(service)
        payment = payment_to(script, 3 * COIN)
        chain.mempool["ab" * 32] = serialize_transaction(payment)  # no notification sent
        assert (await rpc(service, "getbalances"))["mine"]["untrusted_pending"] == 0
        await service.attach(chain)
        assert (await rpc(service, "getbalances"))["mine"]["untrusted_pending"] == Decimal(3)


# -- answers as of the chain's tip ---------------------------------------------------------


async def test_a_balance_asked_right_after_blocks_counts_them(tmp_path: Path):
    """``mine`` only queues the notifications: without waiting for them (Core's
    BlockUntilSyncedToCurrentChain) the wallet would answer 0."""
    chain = BlockChain()
    async with opened(tmp_path) as service:
        await service.attach(chain)
        chain.mine(await new_script(service))
        chain.mine(OTHER, 100)
        assert await rpc(service, "getbalance") == Decimal(50)
        assert len(await rpc(service, "listunspent")) == 1
        assert (await rpc(service, "getwalletinfo"))["lastprocessedblock"]["height"] == 101


async def test_a_wallet_that_cannot_catch_up_answers_after_a_bounded_wait_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(wallet.service, "SYNC_WAIT_S", 0.2)
    chain = BlockChain()
    async with opened(tmp_path) as service:
        await service.attach(chain)
        for subscription in chain.subscriptions:
            subscription.task.cancel()  # the notifications never arrive
        chain.mine(await new_script(service), 101)
        with capture_logs() as logs:
            assert await rpc(service, "getbalance") == 0
        [warning] = [r for r in logs if r["event"] == "wallet_not_synced"]
        assert warning["tip_height"] == 101
        assert warning["log_level"] == "warning"


# -- the wallet file is ours alone ---------------------------------------------------------


def test_a_wallet_file_readable_by_others_is_refused_before_anything_is_written(
    tmp_path: Path,
):
    path = tmp_path / WALLET_FILE
    path.write_bytes(b"")
    path.chmod(0o644)  # planted by someone else, or made before the umask was right
    with pytest.raises(WalletFileRefused, match=r"mode 0644\); refusing to open it"):
        WalletDB.open(path)
    assert path.read_bytes() == b""  # no seed was written into it
    assert issubclass(WalletFileRefused, StartFailure)


def test_a_symlinked_wallet_file_is_refused(tmp_path: Path):
    target = tmp_path / "elsewhere"
    target.write_bytes(b"")
    (tmp_path / WALLET_FILE).symlink_to(target)
    with pytest.raises(WalletFileRefused, match="not a regular file"):
        WalletDB.open(tmp_path / WALLET_FILE)
    assert target.read_bytes() == b""


def test_a_wallet_directory_others_can_write_is_refused(tmp_path: Path):
    directory = tmp_path / "default"
    directory.mkdir()
    directory.chmod(0o777)
    with pytest.raises(WalletFileRefused, match=r"writable by group or others \(mode 0777\)"):
        WalletDB.open(directory / WALLET_FILE)
    assert not (directory / WALLET_FILE).exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="making a file another user's needs root")
def test_a_wallet_file_owned_by_another_user_is_refused(tmp_path: Path):
    path = tmp_path / WALLET_FILE
    path.write_bytes(b"")
    path.chmod(0o600)
    os.chown(path, 65534, 65534)
    with pytest.raises(WalletFileRefused, match="owned by uid 65534"):
        WalletDB.open(path)


def test_a_new_wallet_file_and_directory_are_private_whatever_the_umask(tmp_path: Path):
    previous = os.umask(0)
    try:
        db = WalletDB.open(tmp_path / "wallets" / "default" / WALLET_FILE)
        db.close()
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "wallets" / "default").stat().st_mode) == 0o700
    mode = (tmp_path / "wallets" / "default" / WALLET_FILE).stat().st_mode
    assert stat.S_IMODE(mode) == 0o600


async def test_getwalletinfo_says_scanning_while_an_attach_catches_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(wallet.service, "SYNC_WAIT_S", 0.05)
    chain = BlockChain()
    async with funded(tmp_path, chain) as service:
        restarted = chain.copy()
        restarted.mine(OTHER, 10)
        release = asyncio.Event()
        fetch = restarted.block

        async def slow_block(hash: str) -> Any:
            await release.wait()
            return await fetch(hash)

        restarted.block = slow_block  # type: ignore[method-assign]
        attaching = asyncio.create_task(service.attach(restarted))
        async with asyncio.timeout(5):
            while not service.scanning():  # the attach has begun
                await asyncio.sleep(0)
        scanning = (await rpc(service, "getwalletinfo"))["scanning"]
        assert scanning["duration"] >= 0
        assert scanning["progress"] == 0
        release.set()
        await attaching
        info = await rpc(service, "getwalletinfo")
        assert info["scanning"] is False
        assert info["lastprocessedblock"]["height"] == restarted.height
