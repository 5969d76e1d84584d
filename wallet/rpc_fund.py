"""Core's fundrawtransaction (src/wallet/rpc/spend.cpp): a raw transaction's outputs paid
from the wallet's coins, its own inputs kept first. Unsigned: nothing is recorded or sent,
only the change key is taken (Core's KeepDestination)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from embit.transaction import Transaction

from btc.amounts import btc
from btc.primitives import serialize_transaction
from btc.rawtx import decode_hex_tx
from ipc.interfaces import RpcCode, RpcError
from rpc.dispatch import integer
from rpc.spec import Param, Table, Type
from wallet import send, spending
from wallet.rpc_send import preselected
from wallet.rpc_spend import amount, fee_choice, refuse_options, subtract_positions
from wallet.spending import FeeChoice

if TYPE_CHECKING:
    from wallet.service import WalletService

TABLE = Table("wallet")
FUND_OPTIONS = frozenset(
    {
        "add_inputs",
        "changePosition",
        "change_position",
        "lockUnspents",
        "lock_unspents",
        "fee_rate",
        "feeRate",
        "subtractFeeFromOutputs",
        "subtract_fee_from_outputs",
        "replaceable",
        "conf_target",
        "estimate_mode",
        "psbt",
    }
)


@TABLE.method(
    "wallet",
    "If the transaction has no inputs, they will be automatically selected to meet its out "
    "value.\nIt will add at most one change output to the outputs.\nNo existing outputs will "
    'be modified unless "subtractFeeFromOutputs" is specified.\nNote that inputs which were '
    "signed may need to be resigned after completion since in/outputs have been added.\nThe "
    "inputs added will not be signed, use signrawtransactionwithkey\nor "
    "signrawtransactionwithwallet for that.",
    Param("hexstring", Type.HEX, "The hex string of the raw transaction"),
    Param(
        "options",
        Type.OBJ,
        "For backward compatibility: passing in a true instead of an "
        'object will result in {"includeWatching":true}',
        None,
        skip_type_check=True,
    ),
    Param(
        "iswitness",
        Type.BOOL,
        "Whether the transaction hex is a serialized witness transaction.",
        None,
        "depends on heuristic tests",
    ),
    result="{hex, fee, changepos}",
    examples=('"rawtransactionhex"',),
)
async def fundrawtransaction(
    wallet: WalletService, hexstring: str, options: Any, iswitness: bool | None
) -> Any:
    tx = _decode(hexstring, iswitness)
    options = options if isinstance(options, dict) else {}  # a bool: Core ignores it
    await wallet.synced()
    payment = await fund_tx(wallet, tx, options, sffo_names=["dummy"] * len(tx.vout))
    return {
        "hex": serialize_transaction(payment.tx).hex(),
        "fee": btc(payment.fee),
        "changepos": -1 if payment.change_vout is None else payment.change_vout,
    }


async def fund_tx(
    wallet: WalletService,
    tx: Transaction,
    options: dict[str, Any],
    *,
    sffo_names: list[str],
    add_inputs: bool = True,
) -> send.Payment:
    """Core's FundTransaction: ``tx``'s outputs paid, its inputs kept first with their
    sequences, its version and locktime kept; unsigned. ``sffo_names``: what
    ``subtractFeeFromOutputs`` may name the outputs by (addresses, for a PSBT's)."""
    refuse_options(options, FUND_OPTIONS)
    choice = _fee(options)
    sffo = options.get("subtractFeeFromOutputs", options.get("subtract_fee_from_outputs"))
    marked = subtract_positions(sffo, sffo_names)
    recipients = [
        send.Recipient(out.script_pubkey.data, out.value, i in marked)
        for i, out in enumerate(tx.vout)
    ]
    if not recipients:
        raise RpcError(RpcCode.INVALID_PARAMETER, "TX must have at least one output")
    position = options.get("changePosition", options.get("change_position"))
    if position is not None and not 0 <= integer(position) <= len(tx.vout):
        raise RpcError(RpcCode.INVALID_PARAMETER, "changePosition out of bounds")
    preset = [preselected(wallet, {"txid": i.txid.hex(), "vout": i.vout}) for i in tx.vin]
    async with wallet.send_lock:
        try:
            funded = await spending.fund(
                wallet,
                recipients,
                choice,
                preset=preset,
                add_inputs=bool(options.get("add_inputs", add_inputs)),
                change_position=None if position is None else integer(position),
                override_min_fee=True,
                preset_sequences=[i.sequence for i in tx.vin],
                version=tx.version,
                locktime=tx.locktime,
            )
        except send.CannotFund as error:
            raise RpcError(RpcCode.WALLET_ERROR, str(error)) from None
        payment = funded.payment
        if payment.change_vout is not None:
            with wallet.db.transaction():
                wallet.db.mark_used(funded.change.script, wallet.keychain, wallet.keypool)
        if options.get("lockUnspents", options.get("lock_unspents")):
            wallet.locks.lock([(c.txid, c.vout) for c in payment.inputs], persistent=False)
    return payment


def _decode(hexstring: str, iswitness: bool | None) -> Transaction:
    """Core's DecodeHexTx as fundrawtransaction calls it: both encodings unless
    ``iswitness`` says which (a transaction without inputs, the usual thing to fund, reads
    only in the pre-segwit one)."""
    tx = decode_hex_tx(
        hexstring,
        try_no_witness=iswitness is None or not iswitness,
        try_witness=iswitness is not False,
    )
    if tx is None:
        raise RpcError(RpcCode.DESERIALIZATION_ERROR, "TX decode failed")
    return tx


def _fee(options: dict[str, Any]) -> FeeChoice:
    """Core's FundTransaction fee options: ``fee_rate`` in sat/vB, or the old ``feeRate``
    in BTC/kvB, with Core's refusals of both at once."""
    replaceable = options.get("replaceable")
    if options.get("feeRate") is None:
        return fee_choice(
            options.get("conf_target"),
            options.get("estimate_mode"),
            options.get("fee_rate"),
            replaceable,
        )
    for other, message in (
        ("fee_rate", "Cannot specify both fee_rate (sat/vB) and feeRate (BTC/kvB)"),
        (
            "conf_target",
            "Cannot specify both conf_target and feeRate. Please provide either a "
            "confirmation target in blocks for automatic fee estimation, or an explicit fee "
            "rate.",
        ),
        ("estimate_mode", "Cannot specify both estimate_mode and feeRate"),
    ):
        if options.get(other) is not None:
            raise RpcError(RpcCode.INVALID_PARAMETER, message)
    return FeeChoice(fee_rate=amount(options["feeRate"]), replaceable=replaceable)
