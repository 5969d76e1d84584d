"""backupwallet and restorewallet (issue 11): sqlite's online backup of a wallet in use,
Core's errors, and a restored wallet that is the same wallet (keys, coins, encryption)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from ipc.interfaces import RpcCode
from tests.conftest import Running
from tests.rpcwords import raises_rpc
from tests.test_wallet_encryption import PASS, assert_no_secret_under
from tests.test_wallet_loading import cli, failure, wallet
from tests.test_wallet_taproot import Both
from tests.walletchain import OTHER_ADDRESS
from wallet.service import WalletService


async def test_a_backup_is_the_same_wallet_and_an_encrypted_ones_holds_no_clear_seed(
    tmp_path: Path,
):
    async with Both(tmp_path) as both:
        await both.node_rpc("generatetoaddress", 101, await both.wallet_rpc("getnewaddress"))
        backup = tmp_path / "backup.sqlite"
        assert await both.wallet_rpc("backupwallet", str(backup)) is None
        assert backup.stat().st_mode & 0o777 == 0o600  # it holds the seed: ours alone
        entropy = both.wallet.db.meta("entropy")
        assert isinstance(entropy, bytes)
        await both.wallet_rpc("encryptwallet", PASS)
        encrypted = tmp_path / "sealed" / "backup.sqlite"
        encrypted.parent.mkdir()
        await both.wallet_rpc("backupwallet", str(encrypted))
        with raises_rpc(RpcCode.WALLET_ERROR, "^Error: Wallet backup failed!$"):
            await both.wallet_rpc("backupwallet", str(tmp_path))  # a directory, as Core's sqlite
        next_address = await both.wallet_rpc("getnewaddress")
    assert_no_secret_under(encrypted.parent, entropy)

    restored_dir = tmp_path / "restored-from-backup"
    restored_dir.mkdir(mode=0o700)
    (restored_dir / "wallet.sqlite").write_bytes(backup.read_bytes())
    (restored_dir / "wallet.sqlite").chmod(0o600)
    restored = WalletService.open(restored_dir, "restored")
    try:
        assert restored.db.meta("entropy") == entropy
        assert restored.db.coins()  # the coinbase it had when backed up
        assert restored.new_key(0, "").address == next_address  # the same keys, in order
    finally:
        await restored.close()


def test_restorewallet_through_real_processes(splitd, datadir: Path, tmp_path: Path) -> None:
    running: Running = splitd()
    running.wait_running()
    cli(datadir, "node", "generatetoaddress", "101", cli(datadir, "wallet", "getnewaddress"))
    backup = tmp_path / "default.bak"
    cli(datadir, "wallet", "backupwallet", str(backup))
    cli(datadir, "wallet", "sendtoaddress", OTHER_ADDRESS, "1")  # after the backup

    assert cli(datadir, "wallet", "restorewallet", "copy", str(backup)) == {"name": "copy"}
    assert "copy" in cli(datadir, "wallet", "listwallets")
    path = datadir / "wallets" / "copy" / "wallet.sqlite"
    assert path.stat().st_mode & 0o777 == 0o600
    # The copy has the coinbase and learns the send made after the backup from the mempool.
    assert wallet(datadir, "copy", "getbalance") == wallet(datadir, "default", "getbalance")
    assert wallet(datadir, "copy", "getbalance") == Decimal(
        "48.99997180"
    )  # 1 BTC sent at the fallback fee, 20 sat/vB (141 vB)

    assert failure(datadir, "wallet", "restorewallet", "copy", str(backup)) == (
        f"Failed to restore wallet. Database file exists in '{path}'."
    )
    missing = str(tmp_path / "nothing.bak")
    assert failure(datadir, "wallet", "restorewallet", "other", missing) == (
        "Backup file does not exist"
    )
    assert not (datadir / "wallets" / "other").exists()
    assert failure(datadir, "wallet", "restorewallet", "", str(backup)) == (
        "Wallet name cannot be empty"
    )
