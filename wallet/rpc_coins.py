"""Locked coins (Core's src/wallet/rpc/coins.cpp: lockunspent, listlockunspent)."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from btc.primitives import parse_transaction
from ipc.interfaces import RpcCode, RpcError
from rpc.dispatch import integer
from rpc.spec import Param, Table, Type

if TYPE_CHECKING:
    from wallet.service import WalletService

TABLE = Table("wallet")


@TABLE.method(
    "wallet",
    "Updates list of temporarily unspendable outputs.\nTemporarily lock (unlock=false) or "
    "unlock (unlock=true) specified transaction outputs.\nIf no transaction outputs are "
    "specified when unlocking then all current locked transaction outputs are unlocked.\nA "
    "locked transaction output will not be chosen by automatic coin selection, when spending "
    "bitcoins.\nLocks are stored in memory only, unless persistent=true, in which case they "
    "will be written to the\nwallet database and loaded on node start.",
    Param(
        "unlock", Type.BOOL, "Whether to unlock (true) or lock (false) the specified transactions"
    ),
    Param(
        "transactions",
        Type.ARR,
        "The transaction outputs and within each, the txid (string) vout (numeric).",
        None,
        "[]",
    ),
    Param(
        "persistent",
        Type.BOOL,
        "Whether to write/erase this lock in the wallet database, or keep the change in "
        "memory only. Ignored for unlocking.",
        False,
    ),
    result="true|false    (boolean) Whether the command was successful or not",
    examples=('false "[{\\"txid\\":\\"a08e...\\",\\"vout\\":1}]"',),
)
async def lockunspent(
    wallet: WalletService, unlock: bool, transactions: list[Any] | None, persistent: bool
) -> bool:
    await wallet.synced()
    if transactions is None:
        if unlock:
            wallet.locks.unlock()
        return True
    outpoints = [lockable(wallet, item, unlock, persistent) for item in transactions]
    if unlock:
        wallet.locks.unlock(outpoints)
    else:
        wallet.locks.lock(outpoints, persistent=persistent)
    return True


def lockable(wallet: WalletService, item: Any, unlock: bool, persistent: bool) -> tuple[str, int]:
    """One ``transactions`` entry, checked as Core's lockunspent does."""
    if not isinstance(item, dict):
        raise RpcError(RpcCode.TYPE_ERROR, "JSON value is not an object as expected")
    for field, kind, wanted in (("txid", str, "string"), ("vout", int | Decimal, "number")):
        if field not in item:
            raise RpcError(RpcCode.TYPE_ERROR, f"Missing {field}")
        if not isinstance(item[field], kind) or isinstance(item[field], bool):
            raise RpcError(
                RpcCode.TYPE_ERROR,
                f"JSON value of type {_json_type(item[field])} for field {field} is not of "
                f"expected type {wanted}",
            )
    txid_hex = item["txid"]
    if len(txid_hex) != 64:
        raise RpcError(
            RpcCode.INVALID_PARAMETER,
            f"txid must be of length 64 (not {len(txid_hex)}, for '{txid_hex}')",
        )
    try:
        bytes.fromhex(txid_hex)
    except ValueError:
        raise RpcError(
            RpcCode.INVALID_PARAMETER, f"txid must be hexadecimal string (not '{txid_hex}')"
        ) from None
    vout = integer(item["vout"])
    if vout < 0:
        raise RpcError(RpcCode.INVALID_PARAMETER, "Invalid parameter, vout cannot be negative")
    row = wallet.db.tx(txid_hex.lower())
    if row is None:
        raise RpcError(RpcCode.INVALID_PARAMETER, "Invalid parameter, unknown transaction")
    if vout >= len(parse_transaction(row.raw).vout):
        raise RpcError(RpcCode.INVALID_PARAMETER, "Invalid parameter, vout index out of bounds")
    coin = wallet.db.coin(row.txid, vout)
    if coin is not None and coin.spent_by is not None:
        raise RpcError(RpcCode.INVALID_PARAMETER, "Invalid parameter, expected unspent output")
    outpoint = (row.txid, vout)
    locked = outpoint in wallet.locks
    if unlock and not locked:
        raise RpcError(RpcCode.INVALID_PARAMETER, "Invalid parameter, expected locked output")
    if not unlock and locked and not persistent:
        raise RpcError(RpcCode.INVALID_PARAMETER, "Invalid parameter, output already locked")
    return outpoint


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | Decimal):
        return "number"
    return {str: "string", dict: "object", list: "array"}.get(type(value), "null")


@TABLE.method(
    "wallet",
    "Returns list of temporarily unspendable outputs.\nSee the lockunspent call to lock and "
    "unlock transactions for spending.",
    result='[{"txid": "hex", "vout": n}, ...]',
    examples=("",),
)
async def listlockunspent(wallet: WalletService) -> Any:
    return [{"txid": txid_hex, "vout": vout} for txid_hex, vout in wallet.locks.listed()]
