"""Core's key and descriptor methods (src/wallet/rpc/addresses.cpp, listdescriptors of
src/wallet/rpc/backup.cpp): what the wallet knows of an address, its descriptors, and
its keypool.

The public side needs no passphrase: an encrypted wallet describes its keys from the
accounts' xpubs. ``listdescriptors true`` shows the root's private key, and only while
the wallet is unlocked.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from btc.addresses import AddressError, address_to_script, script_to_address, witness_program
from btc.primitives import hash160
from ipc.interfaces import RpcCode, RpcError
from rpc.spec import Param, Table, Type
from wallet.keys import BECH32M, CHANGE, LEGACY, P2SH_SEGWIT, PURPOSE, RECEIVE

if TYPE_CHECKING:
    from wallet.keyrecords import KeyRow
    from wallet.service import WalletService

TABLE = Table("wallet")
NO_SEED_ID = "00" * 20  # Core's hdseedid of a descriptor wallet's key: none


def describe_address(script: bytes) -> dict[str, Any]:
    """Core's DescribeAddress: the kind of output script an address stands for."""
    program = witness_program(script)
    if program is None:
        return {"isscript": script[:1] == b"\xa9", "iswitness": False}  # P2SH, else P2PKH
    version, data = program
    return {
        "isscript": not (version == 0 and len(data) == 20),
        "iswitness": True,
        "witness_version": version,
        "witness_program": data.hex(),
    }


def _key_fields(wallet: WalletService, key: KeyRow) -> dict[str, Any]:
    """Core's DescribeWalletAddressVisitor for one of our keys (none for taproot)."""
    if key.kind == BECH32M:
        return {}
    if key.kind == LEGACY:
        return {"pubkey": key.pubkey.hex(), "iscompressed": True}
    if key.kind != P2SH_SEGWIT:
        return {"pubkey": key.pubkey.hex()}
    redeem = b"\x00\x14" + hash160(key.pubkey)  # the P2WPKH program the P2SH commits to
    embedded = describe_address(redeem) | {
        "pubkey": key.pubkey.hex(),
        "address": script_to_address(redeem, wallet.network),
        "scriptPubKey": redeem.hex(),
    }
    return {
        "script": "witness_v0_keyhash",
        "hex": redeem.hex(),
        "pubkey": key.pubkey.hex(),
        "embedded": embedded,
    }


@TABLE.method(
    "wallet",
    "Return information about the given bitcoin address.\n"
    "Some of the information will only be present if the address is in the active wallet.\n",
    Param("address", Type.STR, "The bitcoin address for which to get information."),
    result="{address, scriptPubKey, ismine, solvable, desc, parent_desc, iswatchonly, "
    "isscript, iswitness, witness_version, witness_program, pubkey, ischange, timestamp, "
    "hdkeypath, hdseedid, hdmasterfingerprint, labels}",
    examples=('"bcrt1q..."',),
)
async def getaddressinfo(wallet: WalletService, address: str) -> dict[str, Any]:
    try:
        script = address_to_script(address, wallet.network)
    except AddressError:
        raise RpcError(RpcCode.INVALID_ADDRESS_OR_KEY, "Invalid address") from None
    key = wallet.db.key_of(script)
    canonical = script_to_address(script, wallet.network) or address
    result: dict[str, Any] = {"address": canonical, "scriptPubKey": script.hex()}
    result["ismine"] = key is not None
    if key is None:
        return (
            result
            | {"solvable": False, "iswatchonly": False}
            | describe_address(script)
            | {
                "ischange": False,
                "labels": [],
            }
        )
    keychain = wallet.keychain
    result |= {
        "solvable": True,
        "desc": keychain.descriptor(key.derived()),
        "parent_desc": keychain.account_descriptor(key.kind, key.chain),
        "iswatchonly": False,
    }
    result |= describe_address(script) | _key_fields(wallet, key)
    path = keychain.path(key.chain, key.index, key.kind).replace("'", "h")
    return result | {
        "ischange": key.label is None,  # Core's ScriptIsChange: ours, not in the address book
        "timestamp": wallet.db.meta("created"),
        "hdkeypath": path,
        "hdseedid": NO_SEED_ID,
        "hdmasterfingerprint": keychain.fingerprint,
        "labels": [] if key.label is None else [key.label],
    }


@TABLE.method(
    "wallet",
    "List all descriptors present in a wallet.\n",
    Param("private", Type.BOOL, "Show private descriptors.", False),
    result="{wallet_name, descriptors: [{desc, timestamp, active, internal, range, next, "
    "next_index}, ...]}",
    examples=("", "true"),
)
async def listdescriptors(wallet: WalletService, private: bool) -> dict[str, Any]:
    keychain = wallet.keys.signing() if private else wallet.keychain
    created = wallet.db.meta("created")
    found = []
    for kind in sorted(wallet.db.kinds_in_use(), key=PURPOSE.__getitem__):
        for chain in (RECEIVE, CHANGE):
            span = wallet.db.chain_range(kind, chain)
            if span is None:
                continue
            top, next_index = span
            found.append(
                {
                    "desc": keychain.account_descriptor(kind, chain, private=private),
                    "timestamp": created,
                    "active": True,
                    "internal": chain == CHANGE,
                    "range": [0, top],
                    "next": next_index,
                    "next_index": next_index,
                }
            )
    found.sort(key=lambda entry: entry["desc"])
    return {"wallet_name": wallet.name, "descriptors": found}


@TABLE.method(
    "wallet",
    "Refills each descriptor keypool in the wallet up to the specified number of new keys.\n"
    'By default, descriptor wallets have 4 active ranged descriptors ("legacy", '
    '"p2sh-segwit", "bech32", "bech32m"), each with 1000 entries.\n'
    "\nRequires wallet passphrase to be set with walletpassphrase call if wallet is "
    "encrypted.\n",
    Param("newsize", Type.NUM, "The new keypool size", None, "1000, or as set by -keypool"),
    result="null    (json null)",
    examples=("",),
)
async def keypoolrefill(wallet: WalletService, newsize: Any) -> None:
    if newsize is not None and int(newsize) < 0:
        raise RpcError(RpcCode.INVALID_PARAMETER, "Invalid parameter, expected valid size.")
    wallet.keys.signing()  # Core's EnsureWalletIsUnlocked
    size = wallet.keypool if not newsize else int(newsize)
    with wallet.db.transaction():
        wallet.db.top_up(wallet.keychain, size)
