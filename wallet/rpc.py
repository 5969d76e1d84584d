"""The wallet's RPC methods (Core's src/wallet/rpc/), over ``WalletService``.

Every method that reads balances, coins or history first waits for the wallet to
reach the node's tip as of the call (``synced``: Core's
``BlockUntilSyncedToCurrentChain``), as Core's do.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from btc.addresses import AddressError, address_to_script
from btc.amounts import btc
from btc.primitives import hash_to_hex
from ipc.interfaces import RpcCode, RpcError
from rpc.params import parse_hash
from rpc.spec import Param, Table, Type
from wallet import (
    rpc_bump,
    rpc_coins,
    rpc_encrypt,
    rpc_fund,
    rpc_fundpsbt,
    rpc_history,
    rpc_keys,
    rpc_psbt,
    rpc_send,
    rpc_sign,
    rpc_spend,
)
from wallet.keys import BECH32, CHANGE, PURPOSE, RECEIVE
from wallet.view import MATURE_CONFIRMATIONS

if TYPE_CHECKING:
    from wallet.service import WalletService

TABLE = Table("wallet")
TABLES = (
    TABLE,
    rpc_spend.TABLE,
    rpc_send.TABLE,
    rpc_fund.TABLE,
    rpc_fundpsbt.TABLE,
    rpc_psbt.TABLE,
    rpc_coins.TABLE,
    rpc_bump.TABLE,
    rpc_history.TABLE,
    rpc_keys.TABLE,
    rpc_encrypt.TABLE,
    rpc_sign.TABLE,
)
WALLET_VERSION = 169900  # Core's FEATURE_LATEST
MAX_CONFIRMATIONS = 9_999_999
ADDRESS_TYPE = Param(
    "address_type",
    Type.STR,
    'The address type to use. Options are "legacy", "p2sh-segwit", "bech32", and "bech32m".',
    None,
    "set by -addresstype",
)
INCLUDE_WATCHONLY = Param(
    "include_watchonly", Type.BOOL, "(DEPRECATED) No longer used", True, "true"
)


def _address_type(address_type: str | None) -> str:
    """The kind of key an address type asks for; Core's -5 for one we do not derive."""
    if address_type is None:
        return BECH32  # Core's -addresstype default
    if address_type not in PURPOSE:
        raise RpcError(RpcCode.INVALID_ADDRESS_OR_KEY, f"Unknown address type '{address_type}'")
    return address_type


@TABLE.method(
    "wallet",
    "Returns a new Bitcoin address for receiving payments.",
    Param("label", Type.STR, "The label name for the address to be linked to.", ""),
    ADDRESS_TYPE,
    result='"str"    (string) The new bitcoin address',
    examples=("",),
)
async def getnewaddress(wallet: WalletService, label: str, address_type: str | None) -> str:
    return wallet.new_key(RECEIVE, label, _address_type(address_type)).address


@TABLE.method(
    "wallet",
    "Returns a new Bitcoin address, for receiving change.",
    ADDRESS_TYPE,
    result='"str"    (string) The address',
    examples=("",),
)
async def getrawchangeaddress(wallet: WalletService, address_type: str | None) -> str:
    return wallet.new_key(CHANGE, None, _address_type(address_type)).address


@TABLE.method(
    "wallet",
    "Returns the total available balance.",
    Param(
        "dummy",
        Type.STR,
        'Remains for backward compatibility. Must be excluded or set to "*".',
        None,
    ),
    Param("minconf", Type.NUM, "Only include transactions confirmed at least this many times.", 0),
    INCLUDE_WATCHONLY,
    Param("avoid_reuse", Type.BOOL, "(only available if avoid_reuse wallet flag is set)", True),
    result="n    (numeric) The total amount in BTC received for this wallet.",
    examples=("", '"*" 6'),
)
async def getbalance(
    wallet: WalletService, dummy: str | None, minconf: int, include_watchonly: bool, reuse: bool
) -> Any:
    if dummy not in (None, "*"):
        raise RpcError(-32, 'dummy first argument must be excluded or set to "*".')
    await wallet.synced()
    trusted, _, _ = wallet.balances(minconf)
    return btc(trusted)


@TABLE.method(
    "wallet",
    "Returns an object with all balances in BTC.",
    result="{mine: {trusted, untrusted_pending, immature}, lastprocessedblock: {hash, height}}",
    examples=("",),
)
async def getbalances(wallet: WalletService) -> Any:
    await wallet.synced()
    trusted, pending, immature = wallet.balances()
    return {
        "mine": {
            "trusted": btc(trusted),
            "untrusted_pending": btc(pending),
            "immature": btc(immature),
        },
        "lastprocessedblock": wallet.last_processed(),
    }


@TABLE.method(
    "wallet",
    "Returns array of unspent transaction outputs\nwith between minconf and maxconf "
    "(inclusive) confirmations.",
    Param("minconf", Type.NUM, "The minimum confirmations to filter", 1),
    Param("maxconf", Type.NUM, "The maximum confirmations to filter", MAX_CONFIRMATIONS),
    Param("addresses", Type.ARR, "The bitcoin addresses to filter", [], "[]"),
    Param("include_unsafe", Type.BOOL, "Include outputs that are not safe to spend", True),
    result="[{txid, vout, address, label, scriptPubKey, amount, confirmations, spendable, "
    "solvable, desc, safe}, ...]",
    examples=("", '6 9999999 "[\\"bcrt1q...\\"]"'),
)
async def listunspent(
    wallet: WalletService, minconf: int, maxconf: int, addresses: list[Any], unsafe_ok: bool
) -> Any:
    wanted = _address_filter(wallet, addresses)
    await wallet.synced()
    view = wallet.view()
    result = []
    for coin in wallet.db.coins():
        if (coin.txid, coin.vout) in wallet.locks:  # Core's AvailableCoins skips them
            continue
        confirmations = view.confirmations(coin.height)
        if coin.coinbase and confirmations < MATURE_CONFIRMATIONS:
            continue
        if confirmations == 0 and coin.txid not in view.mempool:
            continue
        safe = confirmations > 0 or view.trusted(coin.txid)
        if not (safe or unsafe_ok) or not minconf <= confirmations <= maxconf:
            continue
        key = view.key_of(coin.script)
        assert key is not None
        if wanted is not None and key.address not in wanted:
            continue
        entry: dict[str, Any] = {"txid": coin.txid, "vout": coin.vout, "address": key.address}
        if key.chain == RECEIVE:
            entry["label"] = key.label or ""
        entry |= {
            "scriptPubKey": coin.script.hex(),
            "amount": btc(coin.value),
            "confirmations": confirmations,
            "spendable": True,
            "solvable": True,
            "desc": wallet.keychain.descriptor(key.derived()),
            "safe": safe,
        }
        result.append(entry)
    return result


def _address_filter(wallet: WalletService, addresses: list[Any]) -> set[str] | None:
    for address in addresses:
        if not isinstance(address, str):
            raise RpcError(
                RpcCode.TYPE_ERROR, "JSON value of type number is not of expected type string"
            )
        try:
            address_to_script(address, wallet.network)
        except AddressError:
            raise RpcError(
                RpcCode.INVALID_ADDRESS_OR_KEY, f"Invalid Bitcoin address: {address}"
            ) from None
    if len(set(addresses)) != len(addresses):
        duplicate = next(a for a in addresses if addresses.count(a) > 1)
        raise RpcError(
            RpcCode.INVALID_PARAMETER, f"Invalid parameter, duplicated address: {duplicate}"
        )
    return set(addresses) if addresses else None


@TABLE.method(
    "wallet",
    "If a label name is provided, this will return only incoming transactions paying to "
    "addresses with the specified label.\nReturns up to 'count' most recent transactions "
    "skipping the first 'from' transactions.",
    Param(
        "label",
        Type.STR,
        "If set, should be a valid label name to return only incoming "
        'transactions with the specified label, or "*" to disable filtering and return all '
        "transactions.",
        None,
    ),
    Param("count", Type.NUM, "The number of transactions to return", 10),
    Param("skip", Type.NUM, "The number of transactions to skip", 0),
    INCLUDE_WATCHONLY,
    result="[{address, category, amount, label, vout, fee, confirmations, ...}, ...]",
    examples=("", '"*" 20 100'),
)
async def listtransactions(
    wallet: WalletService, label: str | None, count: int, skip: int, include_watchonly: bool
) -> Any:
    if count < 0:
        raise RpcError(RpcCode.INVALID_PARAMETER, "Negative count")
    if skip < 0:
        raise RpcError(RpcCode.INVALID_PARAMETER, "Negative from")
    wanted = None if label == "*" else rpc_history.label_from_value(label)
    if wanted == "":
        raise RpcError(
            RpcCode.INVALID_PARAMETER, 'Label argument must be a valid label name or "*".'
        )
    await wallet.synced()
    view = wallet.view()
    entries: list[dict[str, Any]] = []
    for row in wallet.db.txs(state=None):
        common = view.tx_fields(row)
        entries.extend(entry | common for entry in view.entries(row, label=wanted))
    end = len(entries) - skip
    return entries[max(0, end - count) : max(0, end)]


@TABLE.method(
    "wallet",
    "Get detailed information about in-wallet transaction <txid>",
    Param("txid", Type.STR, "The transaction id"),
    INCLUDE_WATCHONLY,
    Param(
        "verbose",
        Type.BOOL,
        "Whether to include a `decoded` field containing the decoded "
        "transaction (equivalent to RPC decoderawtransaction)",
        False,
    ),
    result="{amount, fee, confirmations, blockhash, ..., txid, details: [...], hex}",
    examples=('"1075db55d416d3ca199f55b6084e2115b9345e16c5cf302fc80e9d5fbf5d48d"',),
)
async def gettransaction(
    wallet: WalletService, txid: str, include_watchonly: bool, verbose: bool
) -> Any:
    if verbose:
        raise RpcError(
            RpcCode.INVALID_PARAMETER, "verbose=true (a decoded transaction) is not supported"
        )
    tx_hash = hash_to_hex(parse_hash(txid, "txid"))
    await wallet.synced()
    row = wallet.db.tx(tx_hash)
    if row is None:
        raise RpcError(RpcCode.INVALID_ADDRESS_OR_KEY, "Invalid or non-wallet transaction id")
    view = wallet.view()
    # Core's: amount = credit - debit - fee, fee = value out - debit, with the debit the
    # wallet recorded when it first saw the transaction (a reorg cannot change either).
    fee = sum(out.value for out in view.tx(row).vout) - row.debit if row.debit else 0
    result: dict[str, Any] = {"amount": btc(view.credit(row) - row.debit - fee)}
    if row.debit:
        result["fee"] = btc(fee)
    result |= view.tx_fields(row)
    result["details"] = view.entries(row)
    result["hex"] = row.raw.hex()
    result["lastprocessedblock"] = wallet.last_processed()
    return result


@TABLE.method(
    "wallet",
    "Returns an object containing various wallet state info.",
    result="{walletname, walletversion, format, txcount, keypoolsize, ..., scanning, "
    "lastprocessedblock}",
    examples=("",),
)
async def getwalletinfo(wallet: WalletService) -> Any:
    await wallet.synced()
    trusted, pending, immature = wallet.balances()
    return {
        "walletname": wallet.name,
        "walletversion": WALLET_VERSION,
        "format": "sqlite",
        "balance": btc(trusted),
        "unconfirmed_balance": btc(pending),
        "immature_balance": btc(immature),
        "txcount": wallet.db.tx_count(),
        "keypoolsize": wallet.db.keypool_size(RECEIVE),
        "keypoolsize_hd_internal": wallet.db.keypool_size(CHANGE),
        **({"unlocked_until": wallet.keys.relock_time} if wallet.keys.encrypted else {}),
        "paytxfee": btc(0),
        "private_keys_enabled": True,
        "avoid_reuse": False,
        "scanning": wallet.scanning(),
        "descriptors": True,
        "external_signer": False,
        "blank": False,
        "birthtime": wallet.db.meta("created"),
        "lastprocessedblock": wallet.last_processed(),
    }
