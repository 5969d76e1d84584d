"""Keys, addresses and descriptors (issue 11): legacy (BIP44) and p2sh-segwit (BIP49)
next to bech32 and bech32m, received and spent (the node's interpreter checks every
signature), getaddressinfo in Core's shape, listdescriptors (checked against the node's
own descriptor code), keypoolrefill, and the keypool's look-ahead."""

from __future__ import annotations

import random
from decimal import Decimal
from pathlib import Path

from embit.networks import NETWORKS

from btc.addresses import address_to_script
from btc.primitives import parse_transaction, tx_vsize
from ipc.interfaces import RpcCode
from tests.rpcwords import raises_rpc
from tests.test_wallet_taproot import Both
from tests.walletchain import ABANDON, OTHER_ADDRESS
from wallet.keylock import UNLOCK_NEEDED
from wallet.keys import BECH32, CHANGE, LEGACY, P2SH_SEGWIT, PURPOSE, RECEIVE, Keychain
from wallet.send import FeeRates, Recipient, Spendable, fund
from wallet.signer import sign

PASS = "pass"


def test_bip44_and_bip49_test_vectors():
    """The BIPs' own first addresses (mainnet, account 0), through the regtest wallet's code."""
    keys = Keychain.from_mnemonic(ABANDON, NETWORKS["main"])
    assert keys.derive(RECEIVE, 0, LEGACY).address == "1LqBGSKuX5yYUonjxT5qGfpUsXKYYWeabA"
    assert keys.derive(RECEIVE, 0, P2SH_SEGWIT).address == "37VucYSaXLCAsxYyAPfbSi9eh4iEcbShgf"
    assert keys.path(RECEIVE, 0, P2SH_SEGWIT) == "m/49'/0'/0'/0/0"
    watching = keys.watching()
    assert not watching.can_sign
    for kind in PURPOSE:  # the xpubs alone derive the same keys
        assert watching.derive(RECEIVE, 7, kind) == keys.derive(RECEIVE, 7, kind)


async def test_legacy_and_p2sh_segwit_coins_are_received_and_spent(tmp_path: Path):
    async with Both(tmp_path) as both:
        for kind, prefix in ((LEGACY, ("m", "n")), (P2SH_SEGWIT, ("2",))):
            address = await both.wallet_rpc("getnewaddress", "", kind)
            assert address.startswith(prefix)
            change = await both.wallet_rpc("getrawchangeaddress", kind)
            assert change.startswith(prefix) and change != address
            await both.node_rpc("generatetoaddress", 1, address)
        await both.node_rpc("generatetoaddress", 100, OTHER_ADDRESS)
        assert await both.wallet_rpc("getbalance") == Decimal(100)
        # Both coins in one spend: a P2PKH scriptSig and a P2SH-P2WPKH one with a witness.
        sent = await both.wallet_rpc("sendtoaddress", OTHER_ADDRESS, 60)
        assert sent in await both.node_rpc("getrawmempool")  # the interpreter accepted both
        raw = bytes.fromhex(await both.node_rpc("getrawtransaction", sent))
        tx = parse_transaction(raw)
        assert len(tx.vin) == 2
        shapes = sorted((len(i.script_sig.data) > 30, bool(i.witness.items)) for i in tx.vin)
        assert shapes == [(False, True), (True, False)]  # redeem push + witness; sig + pubkey
        fee = (await both.wallet_rpc("gettransaction", sent))["fee"]
        assert -fee * 10**8 >= tx_vsize(tx)  # at least 1 sat/vB on what was really signed
        await both.node_rpc("generatetoaddress", 1, OTHER_ADDRESS)
        assert await both.wallet_rpc("getbalance") == Decimal(100) - 60 + fee


def test_the_fee_covers_the_signed_size_of_every_kind():
    """``fund``'s worst-case estimate covers the signed transaction, for a spend of each kind
    (a P2PKH spend's scriptSig counts in full, not as witness), and by a few bytes at most."""
    keys = Keychain.from_mnemonic(ABANDON)
    change = Spendable("00" * 32, 0, 0, keys.derive(CHANGE, 0).script, BECH32, CHANGE, 0)
    pay = [Recipient(address_to_script(OTHER_ADDRESS), 20_000)]
    for kind in PURPOSE:
        for index in range(8):
            key = keys.derive(RECEIVE, index, kind)
            coin = Spendable("11" * 32, index, 50_000, key.script, kind, RECEIVE, index)
            payment = fund([[coin]], pay, change, FeeRates(1000), random.Random(index))
            signed = sign(payment.tx, payment.inputs, keys)
            assert tx_vsize(signed) <= payment.fee <= tx_vsize(signed) + 2, kind


async def test_getaddressinfo_in_cores_shape(tmp_path: Path):
    async with Both(tmp_path) as both:
        fingerprint = both.wallet.keychain.fingerprint
        address = await both.wallet_rpc("getnewaddress", "rent")
        info = await both.wallet_rpc("getaddressinfo", address)
        assert list(info) == [
            "address", "scriptPubKey", "ismine", "solvable", "desc", "parent_desc",
            "iswatchonly", "isscript", "iswitness", "witness_version", "witness_program",
            "pubkey", "ischange", "timestamp", "hdkeypath", "hdseedid",
            "hdmasterfingerprint", "labels",
        ]  # fmt: skip
        assert info["ismine"] and info["solvable"] and not info["ischange"]
        assert info["hdkeypath"] == "m/84h/1h/0h/0/0"
        assert info["hdmasterfingerprint"] == fingerprint
        assert info["labels"] == ["rent"]
        assert info["desc"].startswith(f"wpkh([{fingerprint}/84h/1h/0h/0/0]{info['pubkey']})#")
        assert info["parent_desc"].startswith(f"wpkh([{fingerprint}/84h/1h/0h]tpub")
        assert await both.node_rpc("deriveaddresses", info["desc"]) == [address]

        nested = await both.wallet_rpc("getaddressinfo", await both.wallet_rpc(
            "getnewaddress", "", P2SH_SEGWIT
        ))  # fmt: skip
        assert (nested["isscript"], nested["iswitness"], nested["script"]) == (
            True, False, "witness_v0_keyhash",
        )  # fmt: skip
        assert nested["embedded"]["pubkey"] == nested["pubkey"]
        assert nested["embedded"]["scriptPubKey"] == nested["hex"]
        assert nested["desc"].startswith("sh(wpkh([")
        change = await both.wallet_rpc("getrawchangeaddress", LEGACY)
        legacy = await both.wallet_rpc("getaddressinfo", change)
        assert legacy["ischange"] and legacy["iscompressed"] and legacy["labels"] == []
        assert legacy["hdkeypath"] == "m/44h/1h/0h/1/0"

        other = await both.wallet_rpc("getaddressinfo", OTHER_ADDRESS)
        assert other == {
            "address": OTHER_ADDRESS,
            "scriptPubKey": address_to_script(OTHER_ADDRESS).hex(),
            "ismine": False,
            "solvable": False,
            "iswatchonly": False,
            "isscript": False,
            "iswitness": True,
            "witness_version": 0,
            "witness_program": address_to_script(OTHER_ADDRESS)[2:].hex(),
            "ischange": False,
            "labels": [],
        }
        with raises_rpc(RpcCode.INVALID_ADDRESS_OR_KEY, "Invalid address"):
            await both.wallet_rpc("getaddressinfo", "bcrt1qnotanaddress")


async def test_listdescriptors_public_and_private(tmp_path: Path):
    async with Both(tmp_path) as both:
        first = await both.wallet_rpc("getnewaddress")
        listed = await both.wallet_rpc("listdescriptors")
        assert listed["wallet_name"] == "test"
        descriptors = listed["descriptors"]
        assert [d["internal"] for d in descriptors] == [False, True]  # bech32 only, in use
        assert [d["desc"] for d in descriptors] == sorted(d["desc"] for d in descriptors)
        receive = descriptors[0]
        assert receive["range"] == [0, 5] and receive["next"] == receive["next_index"] == 1
        assert receive["active"] and receive["timestamp"] == both.wallet.db.meta("created")
        assert await both.node_rpc("deriveaddresses", receive["desc"], [0, 0]) == [first]

        await both.wallet_rpc("getnewaddress", "", LEGACY)
        private = await both.wallet_rpc("listdescriptors", True)
        assert len(private["descriptors"]) == 4
        assert all("tprv" in d["desc"] for d in private["descriptors"])
        for entry in private["descriptors"]:  # the node derives the same from the private form
            public = next(
                d for d in (await both.wallet_rpc("listdescriptors"))["descriptors"]
                if d["internal"] == entry["internal"] and d["desc"][:3] == entry["desc"][:3]
            )  # fmt: skip
            assert await both.node_rpc("deriveaddresses", entry["desc"], [0, 2]) == (
                await both.node_rpc("deriveaddresses", public["desc"], [0, 2])
            )

        await both.wallet_rpc("encryptwallet", PASS)
        assert len((await both.wallet_rpc("listdescriptors"))["descriptors"]) == 4
        with raises_rpc(RpcCode.WALLET_UNLOCK_NEEDED, UNLOCK_NEEDED):
            await both.wallet_rpc("listdescriptors", True)
        await both.wallet_rpc("walletpassphrase", PASS, 60)
        assert (await both.wallet_rpc("listdescriptors", True)) == private


async def test_keypoolrefill_and_the_keypool_look_ahead(tmp_path: Path):
    async with Both(tmp_path) as both:  # keypool 5
        info = await both.wallet_rpc("getwalletinfo")
        assert (info["keypoolsize"], info["keypoolsize_hd_internal"]) == (5, 5)
        with raises_rpc(RpcCode.INVALID_PARAMETER, "^Invalid parameter, expected valid size.$"):
            await both.wallet_rpc("keypoolrefill", -1)
        await both.wallet_rpc("keypoolrefill", 12)
        info = await both.wallet_rpc("getwalletinfo")
        assert (info["keypoolsize"], info["keypoolsize_hd_internal"]) == (12, 12)

        # A payment to a key ahead of the last handed out is seen (the look-ahead), and the
        # pool moves on past it.
        ahead = both.wallet.keychain.derive(RECEIVE, 10, BECH32).address
        await both.node_rpc("generatetoaddress", 1, ahead)
        assert (await both.wallet_rpc("getbalances"))["mine"]["immature"] == Decimal(50)
        top = both.wallet.db.chain_range(BECH32, RECEIVE)
        assert top == (11 + 5 - 1, 11)  # keypool 5 past the next index, as Core's TopUp

        await both.wallet_rpc("encryptwallet", PASS)
        with raises_rpc(RpcCode.WALLET_UNLOCK_NEEDED, UNLOCK_NEEDED):
            await both.wallet_rpc("keypoolrefill")
