"""The wallet's history methods (Core's src/wallet/rpc/transactions.cpp, coins.cpp and
addresses.cpp): abandontransaction, listsinceblock, what an address received, labels.

What an entry shows is ``wallet.view``'s, the same as listtransactions'; where a
transaction stands after a reorganisation is ``wallet.txrecords``'.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from btc.addresses import AddressError, address_to_script
from btc.amounts import btc
from btc.blocks import (
    Block,
)
from btc.primitives import (
    hash_to_hex,
    txid,
)
from ipc.interfaces import BlockNotFound, ConnectedBlock, RpcCode, RpcError
from rpc.params import parse_hash
from rpc.spec import Param, Table, Type
from wallet.keyrecords import RECEIVE_PURPOSE, SEND_PURPOSE
from wallet.txrecords import TxRow
from wallet.view import MATURE_CONFIRMATIONS, View

if TYPE_CHECKING:
    from wallet.service import WalletService

TABLE = Table("wallet")
PURPOSES = (RECEIVE_PURPOSE, SEND_PURPOSE, "refund")  # Core's PurposeFromString
INCLUDE_IMMATURE = Param(
    "include_immature_coinbase", Type.BOOL, "Include immature coinbase transactions.", False
)
INCLUDE_WATCHONLY = Param("include_watchonly", Type.BOOL, "(DEPRECATED) No longer used", False)
MINCONF = Param(
    "minconf", Type.NUM, "Only include transactions confirmed at least this many times.", 1
)


def label_from_value(label: str | None) -> str | None:
    """Core's LabelFromValue: "*" is no label's name."""
    if label == "*":
        raise RpcError(RpcCode.WALLET_INVALID_LABEL_NAME, "Invalid label name")
    return label


@TABLE.method(
    "wallet",
    "Mark in-wallet transaction <txid> as abandoned\nThis will mark this transaction and all "
    "its in-wallet descendants as abandoned which will allow\nfor their inputs to be respent.  "
    'It can be used to replace "stuck" or evicted transactions.\nIt only works on transactions '
    "which are not included in a block and are not currently in the mempool.\nIt has no effect "
    "on transactions which are already abandoned.",
    Param("txid", Type.HEX, "The transaction id"),
    examples=('"1075db55d416d3ca199f55b6084e2115b9345e16c5cf302fc80e9d5fbf5d48d"',),
)
async def abandontransaction(wallet: WalletService, txid_hex: str) -> None:
    tx_hash = hash_to_hex(parse_hash(txid_hex, "txid"))
    await wallet.synced()
    row = wallet.db.tx(tx_hash)
    if row is None:
        raise RpcError(RpcCode.INVALID_ADDRESS_OR_KEY, "Invalid or non-wallet transaction id")
    view = wallet.view()
    if view.depth(row) != 0 or row.txid in view.mempool:
        raise RpcError(RpcCode.INVALID_ADDRESS_OR_KEY, "Transaction not eligible for abandonment")
    with wallet.db.transaction():
        wallet.db.abandon_tx(row.txid)


@TABLE.method(
    "wallet",
    "Get all transactions in blocks since block [blockhash], or all transactions if omitted.\n"
    'If "blockhash" is no longer a part of the main chain, transactions from the fork point '
    "onward are included.\nAdditionally, if include_removed is set, transactions affecting the "
    'wallet which were removed are returned in the "removed" array.',
    Param(
        "blockhash",
        Type.STR,
        "If set, the block hash to list transactions since, otherwise list all transactions.",
        None,
    ),
    Param(
        "target_confirmations",
        Type.NUM,
        "Return the nth block hash from the main chain. e.g. 1 would mean the best block hash. "
        "Note: this is not used as a filter, but only affects [lastblock] in the return value",
        1,
    ),
    INCLUDE_WATCHONLY,
    Param(
        "include_removed",
        Type.BOOL,
        'Show transactions that were removed due to a reorg in the "removed" array\n'
        "(not guaranteed to work on pruned nodes)",
        True,
    ),
    Param("include_change", Type.BOOL, "Also add entries for change outputs.", False),
    Param(
        "label",
        Type.STR,
        "Return only incoming transactions paying to addresses with the specified label.",
        None,
    ),
    result="{transactions: [...], removed: [...], lastblock}",
    examples=("", '"000000000000000bacf66f7497b7dc45ef753ee9a7d38571037cdb1a57f663ad" 6'),
)
async def listsinceblock(
    wallet: WalletService,
    blockhash: str | None,
    target_confirmations: int,
    include_watchonly: bool,
    include_removed: bool,
    include_change: bool,
    label: str | None,
) -> Any:
    await wallet.synced()
    detached: list[ConnectedBlock] = []
    height = None
    if blockhash:
        detached, height = await _since(wallet, hash_to_hex(parse_hash(blockhash, "blockhash")))
    if target_confirmations < 1:
        raise RpcError(RpcCode.INVALID_PARAMETER, "Invalid parameter")
    wanted = None if label is None else label_from_value(label)
    view = wallet.view()
    depth = -1 if height is None else view.tip + 1 - height
    options: dict[str, Any] = {"label": wanted, "include_change": include_change}
    transactions = [
        entry
        for row in wallet.db.txs(state=None)
        if depth == -1 or abs(view.depth(row)) < depth
        for entry in _listed(view, row, min_depth=0, **options)
    ]
    removed = []
    for block in detached if include_removed else []:
        for tx in Block.parse(block.raw).txs:
            row = wallet.db.tx(hash_to_hex(txid(tx)))
            if row is not None:  # every one, whatever its depth now (Core's -100000000)
                removed.extend(_listed(view, row, min_depth=-100_000_000, **options))
    target = min(target_confirmations, view.tip + 1)
    result: dict[str, Any] = {"transactions": transactions}
    if include_removed:
        result["removed"] = removed
    result["lastblock"] = await _active_hash(wallet, view.tip + 1 - target)
    return result


def _listed(view: View, row: TxRow, **options: Any) -> list[dict[str, Any]]:
    """Core's ListTransactions with fLong: each entry with its transaction's fields."""
    common = view.tx_fields(row)
    return [entry | common for entry in view.entries(row, **options)]


async def _since(wallet: WalletService, hash: str) -> tuple[list[ConnectedBlock], int]:
    """Core's findCommonAncestor of ``hash`` and our tip: the blocks of ``hash``'s branch
    above it (newest first), and its height. -5 "Block not found" for a block the node
    does not have."""
    chain = wallet.node_chain()
    detached = []
    try:
        block = await chain.block(hash)
        while await _active_hash(wallet, block.height) != block.hash:
            detached.append(block)
            block = await chain.block(block.prev_hash)
    except BlockNotFound:
        raise RpcError(RpcCode.INVALID_ADDRESS_OR_KEY, "Block not found") from None
    return detached, block.height


async def _active_hash(wallet: WalletService, height: int) -> str | None:
    """Our chain's block at ``height``: from our file, or the node's below our first block."""
    found = wallet.db.block_hash_at(height)
    if found is None and 0 <= height <= (wallet.db.last_block() or (-1, ""))[0]:
        found = await wallet.node_chain().block_hash(height)
    return found


# -- what an address received ---------------------------------------------------------------


def _counted(view: View, row: TxRow, minconf: int, include_immature: bool) -> bool:
    """Core's GetReceived/ListReceived filter: deep enough, and no orphaned or (unless
    asked) immature coinbase."""
    depth = view.depth(row)
    if depth < minconf or (row.coinbase and depth < 1):
        return False
    return include_immature or not (row.coinbase and depth < MATURE_CONFIRMATIONS)


@TABLE.method(
    "wallet",
    "Returns the total amount received by the given address in transactions with at least "
    "minconf confirmations.",
    Param("address", Type.STR, "The bitcoin address for transactions."),
    MINCONF,
    INCLUDE_IMMATURE,
    result="n    (numeric) The total amount in BTC received at this address.",
    examples=('"bcrt1q..."', '"bcrt1q..." 0', '"bcrt1q..." 6'),
)
async def getreceivedbyaddress(
    wallet: WalletService, address: str, minconf: int, include_immature: bool
) -> Any:
    await wallet.synced()
    try:
        script = address_to_script(address, wallet.network)
    except AddressError:
        raise RpcError(RpcCode.INVALID_ADDRESS_OR_KEY, "Invalid Bitcoin address") from None
    if not wallet.db.is_mine(script):
        raise RpcError(RpcCode.WALLET_ERROR, "Address not found in wallet")
    view = wallet.view()
    total = 0
    for row in wallet.db.txs(state=None):
        if _counted(view, row, minconf, include_immature):
            tx = view.tx(row)
            total += sum(out.value for out in tx.vout if out.script_pubkey.data == script)
    return btc(total)


@TABLE.method(
    "wallet",
    "List balances by receiving address.",
    Param(
        "minconf",
        Type.NUM,
        "The minimum number of confirmations before payments are included.",
        1,
    ),
    Param(
        "include_empty",
        Type.BOOL,
        "Whether to include addresses that haven't received any payments.",
        False,
    ),
    INCLUDE_WATCHONLY,
    Param(
        "address_filter",
        Type.STR,
        "If present and non-empty, only return information on this address.",
        None,
    ),
    INCLUDE_IMMATURE,
    result="[{address, amount, confirmations, label, txids: [...]}, ...]",
    examples=("", "6 true", '6 true true "" true'),
)
async def listreceivedbyaddress(
    wallet: WalletService,
    minconf: int,
    include_empty: bool,
    include_watchonly: bool,
    address_filter: str | None,
    include_immature: bool,
) -> Any:
    await wallet.synced()
    if address_filter:
        try:
            address_to_script(address_filter, wallet.network)
        except AddressError:
            raise RpcError(RpcCode.WALLET_ERROR, "address_filter parameter was invalid") from None
    view = wallet.view()
    tally: dict[str, tuple[int, int, list[str]]] = {}  # address: (amount, least depth, txids)
    for row in wallet.db.txs(state=None):
        if not _counted(view, row, minconf, include_immature):
            continue
        depth = view.depth(row)
        for out in view.tx(row).vout:
            key = view.key_of(out.script_pubkey.data)
            if key is None:
                continue
            amount, least, txids = tally.get(key.address, (0, depth, []))
            tally[key.address] = (amount + out.value, min(least, depth), [*txids, row.txid])
    result = []
    for address, label, _ in wallet.db.address_book():
        if address_filter and address != address_filter:
            continue
        if address not in tally and not include_empty:
            continue
        amount, depth, txids = tally.get(address, (0, 0, []))
        result.append(
            {
                "address": address,
                "amount": btc(amount),
                "confirmations": depth,
                "label": label,
                "txids": txids,
            }
        )
    return result


# -- labels -----------------------------------------------------------------------------------


@TABLE.method(
    "wallet",
    "Sets the label associated with the given address.",
    Param("address", Type.STR, "The bitcoin address to be associated with a label."),
    Param("label", Type.STR, "The label to assign to the address."),
    examples=('"bcrt1q..." "tabby"',),
)
async def setlabel(wallet: WalletService, address: str, label: str) -> None:
    try:
        script = address_to_script(address, wallet.network)
    except AddressError:
        raise RpcError(RpcCode.INVALID_ADDRESS_OR_KEY, "Invalid Bitcoin address") from None
    name = label_from_value(label)
    assert name is not None
    with wallet.db.transaction():
        wallet.db.set_label(script, address, name)


@TABLE.method(
    "wallet",
    "Returns the list of all labels, or labels that are assigned to addresses with a specific "
    "purpose.",
    Param(
        "purpose",
        Type.STR,
        "Address purpose to list labels for ('send','receive'). An empty string is the same "
        "as not providing this argument.",
        None,
    ),
    result='["label", ...]',
    examples=("", "receive", "send"),
)
async def listlabels(wallet: WalletService, purpose: str | None) -> Any:
    if purpose and purpose not in PURPOSES:
        raise RpcError(
            RpcCode.INVALID_PARAMETER,
            "Invalid 'purpose' argument, must be a known purpose string, typically 'send', or "
            "'receive'.",
        )
    book = wallet.db.address_book()
    return sorted({label for _, label, kind in book if not purpose or kind == purpose})


@TABLE.method(
    "wallet",
    "Returns the list of addresses assigned the specified label.",
    Param("label", Type.STR, "The label."),
    result='{"address": {purpose}, ...}',
    examples=('"tabby"',),
)
async def getaddressesbylabel(wallet: WalletService, label: str) -> Any:
    name = label_from_value(label)
    found = {
        address: {"purpose": purpose}
        for address, entry, purpose in wallet.db.address_book()
        if entry == name
    }
    if not found:
        raise RpcError(RpcCode.WALLET_INVALID_LABEL_NAME, f"No addresses with label {name}")
    return found
