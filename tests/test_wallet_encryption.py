"""Wallet encryption (issue 11): Core's encryptwallet, walletpassphrase, walletlock and
walletpassphrasechange, their codes and messages; the seed sealed with scrypt and AES-GCM
and scrubbed from the file; the relock timer; passphrases kept out of every log.

In-process against an in-process node (the node's interpreter checks what is signed),
and once through real processes, grepping every file of the datadir for the seed.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from decimal import Decimal
from pathlib import Path

import pytest
from embit import bip39

from ipc.capnp.proxy import summarize
from ipc.interfaces import RpcCode
from tests.conftest import Running
from tests.rpcwords import raises_rpc
from tests.test_rpc_gateway import call, cookie_of, port_of
from tests.test_wallet_loading import cli, failure, wallet
from tests.test_wallet_taproot import Both
from tests.walletchain import OTHER_ADDRESS
from wallet import crypt
from wallet.keylock import INCORRECT, UNLOCK_NEEDED
from wallet.keys import PURPOSE, Keychain
from wallet.rpc_encrypt import ENCRYPTED

PASS = "correct horse battery staple"


def secrets_of(entropy: bytes) -> list[bytes]:
    """Every form of the seed a file could hold it in: raw, hex, the mnemonic, the root's
    and the accounts' tprvs."""
    keychain = Keychain(entropy)
    mnemonic = bip39.mnemonic_from_bytes(entropy)
    found = [entropy, entropy.hex().encode(), mnemonic.encode()]
    root = keychain.account_descriptor("bech32", 0, private=True).split("(")[1].split("/")[0]
    found.append(root.encode())
    found += [account.to_base58().encode() for account in keychain._accounts.values()]
    return found


def assert_no_secret_under(directory: Path, entropy: bytes, *also: bytes) -> int:
    """Grep every file under ``directory`` for the seed in every form; the files read."""
    files = [path for path in directory.rglob("*") if path.is_file()]
    for path in files:
        content = path.read_bytes()
        for secret in (*secrets_of(entropy), *also):
            assert secret not in content, (path, secret[:8])
    return len(files)


async def wait_for(predicate, timeout: float = 10.0) -> None:
    """Poll ``predicate`` (an async callable) until true, failing past ``timeout``."""
    deadline = time.monotonic() + timeout
    while not await predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.05)


def test_seal_and_unseal_round_trip_and_a_wrong_passphrase_is_refused() -> None:
    entropy = bytes(range(32))
    sealed = crypt.seal(entropy, PASS, n=2**10)
    assert entropy not in sealed
    assert crypt.unseal(sealed, PASS) == entropy
    with pytest.raises(crypt.WrongPassphrase):
        crypt.unseal(sealed, PASS + "!")
    assert crypt.seal(entropy, PASS, n=2**10) != sealed  # a fresh salt and nonce each time


async def test_encrypt_scrubs_the_seed_and_a_locked_wallet_still_hands_out_addresses(
    tmp_path: Path,
):
    async with Both(tmp_path) as both:
        before = [await both.wallet_rpc("getnewaddress", "", kind) for kind in PURPOSE]
        entropy = both.wallet.db.meta("entropy")
        assert isinstance(entropy, bytes)
        assert "unlocked_until" not in await both.wallet_rpc("getwalletinfo")
        assert await both.wallet_rpc("encryptwallet", PASS) == ENCRYPTED
        assert (await both.wallet_rpc("getwalletinfo"))["unlocked_until"] == 0
        after = [await both.wallet_rpc("getnewaddress", "", kind) for kind in PURPOSE]
        keys = Keychain(entropy)
        assert after == [keys.derive(0, 1, kind).address for kind in PURPOSE]  # the same seed
        assert before == [keys.derive(0, 0, kind).address for kind in PURPOSE]
        assert both.wallet.db.meta("entropy") is None
        with raises_rpc(RpcCode.WALLET_WRONG_ENC_STATE, "^Error: running with an encrypted"):
            await both.wallet_rpc("encryptwallet", PASS)
    checked = assert_no_secret_under(tmp_path / "wallet", entropy)
    assert checked >= 1
    db = sqlite3.connect(tmp_path / "wallet" / "wallet.sqlite")
    assert db.execute("SELECT value FROM meta WHERE key = 'entropy'").fetchone() is None
    db.close()


async def test_locked_sends_fail_with_13_and_an_unlocked_wallet_signs(tmp_path: Path):
    async with Both(tmp_path) as both:
        funding = await both.wallet_rpc("getnewaddress")
        await both.node_rpc("generatetoaddress", 101, funding)
        await both.wallet_rpc("encryptwallet", PASS)
        with raises_rpc(RpcCode.WALLET_UNLOCK_NEEDED, f"^{UNLOCK_NEEDED}$"):
            await both.wallet_rpc("sendtoaddress", OTHER_ADDRESS, 1)
        assert await both.node_rpc("getrawmempool") == []
        with raises_rpc(RpcCode.WALLET_PASSPHRASE_INCORRECT, f"^{INCORRECT}$"):
            await both.wallet_rpc("walletpassphrase", "wrong", 60)
        with raises_rpc(RpcCode.WALLET_PASSPHRASE_INCORRECT, "null character"):
            await both.wallet_rpc("walletpassphrase", "wrong\0", 60)
        with raises_rpc(RpcCode.INVALID_PARAMETER, "^passphrase cannot be empty$"):
            await both.wallet_rpc("walletpassphrase", "", 60)
        with raises_rpc(RpcCode.INVALID_PARAMETER, "^Timeout cannot be negative.$"):
            await both.wallet_rpc("walletpassphrase", PASS, -1)

        now = int(time.time())
        assert await both.wallet_rpc("walletpassphrase", PASS, 60) is None
        assert now + 60 <= (await both.wallet_rpc("getwalletinfo"))["unlocked_until"] <= now + 62
        sent = await both.wallet_rpc("sendtoaddress", OTHER_ADDRESS, 1)
        assert sent in await both.node_rpc("getrawmempool")  # the node's interpreter agrees

        await both.wallet_rpc("walletlock")
        assert (await both.wallet_rpc("getwalletinfo"))["unlocked_until"] == 0
        with raises_rpc(RpcCode.WALLET_UNLOCK_NEEDED, UNLOCK_NEEDED):
            await both.wallet_rpc("sendtoaddress", OTHER_ADDRESS, 1)


async def test_the_wallet_relocks_itself_at_the_timeout(tmp_path: Path):
    async with Both(tmp_path) as both:
        await both.node_rpc("generatetoaddress", 101, await both.wallet_rpc("getnewaddress"))
        await both.wallet_rpc("encryptwallet", PASS)
        await both.wallet_rpc("walletpassphrase", PASS, 1)
        assert (await both.wallet_rpc("getwalletinfo"))["unlocked_until"] > 0

        async def relocked() -> bool:
            return (await both.wallet_rpc("getwalletinfo"))["unlocked_until"] == 0

        await wait_for(relocked)
        with raises_rpc(RpcCode.WALLET_UNLOCK_NEEDED, UNLOCK_NEEDED):
            await both.wallet_rpc("sendtoaddress", OTHER_ADDRESS, 1)

        # A second walletpassphrase overrides the first one's relock, as in Core.
        await both.wallet_rpc("walletpassphrase", PASS, 1)
        await both.wallet_rpc("walletpassphrase", PASS, 10**9)
        info = await both.wallet_rpc("getwalletinfo")
        assert info["unlocked_until"] >= int(time.time()) + 100_000_000 - 5  # Core's cap
        assert both.wallet.keys._timer is not None
        assert both.wallet.keys._timer.when() - asyncio.get_running_loop().time() > 1000


async def test_an_unencrypted_wallet_refuses_the_lock_methods_with_15(tmp_path: Path):
    async with Both(tmp_path) as both:
        for method, params in [
            ("walletpassphrase", [PASS, 1]),
            ("walletlock", []),
            ("walletpassphrasechange", [PASS, "new"]),
        ]:
            with raises_rpc(
                RpcCode.WALLET_WRONG_ENC_STATE,
                f"^Error: running with an unencrypted wallet, but {method} was called.$",
            ):
                await both.wallet_rpc(method, *params)
        with raises_rpc(RpcCode.INVALID_PARAMETER, "^passphrase cannot be empty$"):
            await both.wallet_rpc("encryptwallet", "")


async def test_passphrase_change_and_reopening_an_encrypted_wallet(tmp_path: Path):
    async with Both(tmp_path) as both:
        await both.node_rpc("generatetoaddress", 101, await both.wallet_rpc("getnewaddress"))
        await both.wallet_rpc("encryptwallet", PASS)
        with raises_rpc(RpcCode.WALLET_PASSPHRASE_INCORRECT, f"^{INCORRECT}$"):
            await both.wallet_rpc("walletpassphrasechange", "wrong", "new one")
        with raises_rpc(RpcCode.INVALID_PARAMETER, "^passphrase cannot be empty$"):
            await both.wallet_rpc("walletpassphrasechange", PASS, "")
        await both.wallet_rpc("walletpassphrasechange", PASS, "new one")
        with raises_rpc(RpcCode.WALLET_PASSPHRASE_INCORRECT, INCORRECT):
            await both.wallet_rpc("walletpassphrase", PASS, 60)
        first = await both.wallet_rpc("getnewaddress")
    async with Both(tmp_path) as both:  # reopened: locked, same keys, the new passphrase
        assert (await both.wallet_rpc("getwalletinfo"))["unlocked_until"] == 0
        assert await both.wallet_rpc("getnewaddress") != first
        with raises_rpc(RpcCode.WALLET_UNLOCK_NEEDED, UNLOCK_NEEDED):
            await both.wallet_rpc("sendtoaddress", OTHER_ADDRESS, 1)
        await both.wallet_rpc("walletpassphrase", "new one", 60)
        sent = await both.wallet_rpc("sendtoaddress", OTHER_ADDRESS, 1)
        assert sent in await both.node_rpc("getrawmempool")


def test_the_call_log_hides_the_params_of_methods_that_carry_a_passphrase() -> None:
    for method in ("walletpassphrase", "encryptwallet", "walletpassphrasechange"):
        summary = summarize({"method": method, "params": json.dumps([PASS, 60])})
        assert PASS not in summary and "params=<redacted>" in summary
    assert "bcrt1q" in summarize({"method": "getaddressinfo", "params": '["bcrt1q"]'})


def test_through_real_processes_no_file_holds_the_seed_or_the_passphrase(
    splitd, datadir: Path
) -> None:
    """The issue's Show: createwallet with a passphrase, encryptwallet on the default
    wallet, locked sends fail with -13, unlock, send, relock at the timeout; then every
    file under the datadir (wallet dbs, WALs, logs at debug level) is grepped."""
    running: Running = splitd(**{"log.level": "debug"})
    running.wait_running()
    address = cli(datadir, "wallet", "getnewaddress")
    cli(datadir, "node", "generatetoaddress", "101", address)
    path = datadir / "wallets" / "default" / "wallet.sqlite"
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    entropy = bytes(db.execute("SELECT value FROM meta WHERE key = 'entropy'").fetchone()[0])
    db.close()

    assert cli(datadir, "wallet", "encryptwallet", PASS) == ENCRYPTED
    assert failure(datadir, "wallet", "sendtoaddress", OTHER_ADDRESS, "1") == UNLOCK_NEEDED
    cli(datadir, "wallet", "walletpassphrase", PASS, "2")
    sent = cli(datadir, "wallet", "sendtoaddress", OTHER_ADDRESS, "1")
    assert sent in cli(datadir, "node", "getrawmempool")
    deadline = time.monotonic() + 20
    while cli(datadir, "wallet", "getwalletinfo")["unlocked_until"] != 0:
        assert time.monotonic() < deadline, "the wallet did not relock"
        time.sleep(0.1)
    assert failure(datadir, "wallet", "sendtoaddress", OTHER_ADDRESS, "1") == UNLOCK_NEEDED

    other = "another pass phrase"
    assert cli(datadir, "wallet", "createwallet", "vault", "false", "false", other) == {
        "name": "vault"
    }
    assert wallet(datadir, "vault", "getwalletinfo")["unlocked_until"] == 0
    assert failure(datadir, "wallet", "--wallet", "vault", "keypoolrefill") == UNLOCK_NEEDED
    assert wallet(datadir, "vault", "getnewaddress").startswith("bcrt1q")
    assert wallet(datadir, "default", "getbalance") == Decimal(
        "48.99997180"
    )  # 1 BTC sent at the fallback fee, 20 sat/vB (141 vB)

    # Over JSON-RPC too (the gateway's face of the wallet): a wrong passphrase is -14, and
    # neither it nor the right one reaches a log.
    wrong = "a wrong pass phrase over http"
    port, cookie = port_of(datadir), cookie_of(datadir)
    status, reply = call(port, cookie, "walletpassphrase", [wrong, 5], "/wallet/vault")
    assert (status, reply["error"]["code"]) == (500, RpcCode.WALLET_PASSPHRASE_INCORRECT)
    status, reply = call(port, cookie, "walletpassphrase", [other, 5], "/wallet/vault")
    assert (status, reply["error"]) == (200, None)

    records = (datadir / "logs" / "splitd.jsonl").read_text()
    secret_methods = ("walletpassphrase", "encryptwallet")
    calls = [
        (record.get("worker"), record["args"])
        for record in map(json.loads, records.splitlines())
        if record.get("event") == "ipc_call"
        and any(f"method='{name}'" in record["args"] for name in secret_methods)
    ]
    # At debug level every call between processes is logged: the gateway's walletpassphrase
    # and the supervisor's encryptwallet (createwallet's passphrase) are, params hidden.
    assert ("rpc", "method='walletpassphrase', params=<redacted>") in calls
    assert ("supervisor", "method='encryptwallet', params=<redacted>") in calls
    assert all("params=<redacted>" in args for _, args in calls)
    checked = assert_no_secret_under(
        datadir, entropy, PASS.encode(), other.encode(), wrong.encode()
    )
    assert checked >= 6
