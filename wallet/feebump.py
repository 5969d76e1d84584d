"""Core's bumpfee (src/wallet/feebumper.cpp): replace our own unconfirmed send with the
same payments at a higher fee rate.

The replacement spends every input of the original (so the two can never both
confirm), pays the same recipients, keeps the same change address, and may add
confirmed coins. Without ``fee_rate`` its rate is Core's EstimateFeeRate: the original's
rate plus one satoshi per kvB plus the wallet's incremental 5 sat/vB, and at least what
a new send would pay. Durability is Core's: the replacement, and which transaction it
replaces, are recorded before the node hears of it; the original is then conflicted in
the wallet, and the node's full-RBF mempool evicts it on acceptance.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from embit.transaction import Transaction

from btc.amounts import btc
from btc.fees import fee_for, format_money
from btc.primitives import hash_to_hex, parse_transaction, tx_vsize, txid
from ipc.interfaces import RpcCode, RpcError, TxRejected
from wallet import send, signer, spending
from wallet.keyrecords import KeyRow
from wallet.keys import CHANGE
from wallet.spending import FeeChoice
from wallet.txrecords import ACTIVE

if TYPE_CHECKING:
    from wallet.service import WalletService

WALLET_INCREMENTAL_RELAY_FEE = 5000  # sat/kvB, Core's wallet.h
INCREMENTAL_RELAY_FEE = 1000  # sat/kvB: our node's -incrementalrelayfee (node/policy.py)


@dataclass(frozen=True)
class Bump:
    """A funded, unsigned replacement of ``txid``'s transaction."""

    txid: str
    original: Transaction
    payment: send.Payment
    change: KeyRow
    old_fee: int


async def bumpfee(wallet: WalletService, txid_hex: str, choice: FeeChoice) -> dict[str, Any]:
    """Core's bumpfee: the replacement signed, recorded, broadcast;
    ``{txid, origfee, fee, errors}``."""
    async with wallet.send_lock:
        bump = await replacement(wallet, txid_hex, choice)
        new_txid = await _commit(wallet, bump)
    return {
        "txid": new_txid,
        "origfee": btc(bump.old_fee),
        "fee": btc(bump.payment.fee),
        "errors": [],
    }


async def replacement(wallet: WalletService, txid_hex: str, choice: FeeChoice) -> Bump:
    """Core's CreateRateBumpTransaction (send lock held)."""
    relay_min = await spending.chain_of(wallet).relay_min_fee()
    row = wallet.db.tx(txid_hex)
    if row is None:
        raise RpcError(RpcCode.INVALID_ADDRESS_OR_KEY, "Invalid or non-wallet transaction id")
    original = parse_transaction(row.raw)
    inputs = []
    for txin in original.vin:
        coin = wallet.db.coin(txin.txid.hex(), txin.vout)
        if coin is None:
            raise RpcError(
                RpcCode.WALLET_ERROR,
                "Transaction contains inputs that don't belong to this wallet",
            )
        inputs.append(spending.spendable(wallet, coin))
    _preconditions(wallet, row.txid, len(original.vout), row.height, row.state)
    old_fee = sum(c.value for c in inputs) - sum(out.value for out in original.vout)
    recipients, change = _outputs(wallet, original)
    rate = await _rate(
        wallet, choice, original, inputs=inputs, old_fee=old_fee, relay_min=relay_min
    )
    try:
        payment = send.fund(
            [[c for c, confirmations in spending.available(wallet) if confirmations > 0]],
            recipients,
            spending.change_stand_in(change),
            send.FeeRates(rate, max_fee=wallet.spend_settings.max_tx_fee),
            random.SystemRandom(),
            preset=inputs,
            sequence=spending.sequence(choice, wallet.spend_settings),
        )
    except send.CannotFund as error:
        raise RpcError(RpcCode.WALLET_ERROR, f"Unable to create transaction. {error}") from None
    return Bump(row.txid, original, payment, change, old_fee)


async def _commit(wallet: WalletService, bump: Bump) -> str:
    """Core's feebumper::CommitTransaction: sign, record which one it replaces, broadcast."""
    signed = signer.sign(bump.payment.tx, bump.payment.inputs, wallet.keys.signing())
    new_txid = hash_to_hex(txid(signed))
    with wallet.db.transaction():  # Core's MarkReplaced with CommitTransaction
        wallet.db.link_replacement(bump.txid, new_txid)
        spending.record(wallet, signed, bump.payment, bump.change)
    try:
        await spending.broadcast(wallet, spending.chain_of(wallet), signed, new_txid)
    except TxRejected:  # the replacement is abandoned: the original is ours again
        with wallet.db.transaction():
            wallet.db.link_replacement(bump.txid, new_txid, linked=False)
            wallet.db.apply_tx(bump.original, None, tx_hash=bump.txid)
        raise
    return new_txid


def _preconditions(
    wallet: WalletService, txid_hex: str, outputs: int, height: int | None, state: str
) -> None:
    """Core's PreconditionChecks."""
    for vout in range(outputs):
        coin = wallet.db.coin(txid_hex, vout)
        if coin is not None and coin.spent_by is not None:
            raise RpcError(RpcCode.INVALID_PARAMETER, "Transaction has descendants in the wallet")
    replaced_by = wallet.db.replacement_links(txid_hex).get("replaced_by_txid")
    if height is not None or (state != ACTIVE and replaced_by is None):
        raise RpcError(
            RpcCode.WALLET_ERROR,
            "Transaction has been mined, or is conflicted with a mined transaction",
        )
    if replaced_by is not None:  # replaced in the mempool: Core's depth is still 0
        raise RpcError(
            RpcCode.WALLET_ERROR,
            f"Cannot bump transaction {txid_hex} which was already bumped by transaction "
            f"{replaced_by}",
        )


def _outputs(wallet: WalletService, tx: Any) -> tuple[list[send.Recipient], KeyRow]:
    """The original's payments, and its change key (Core's OutputIsChange) or a new one.
    A send to our own change address alone pays it, less the new fee (Core's SFFO)."""
    recipients, change = [], None
    for out in tx.vout:
        script = out.script_pubkey.data
        key = wallet.db.key_of(script)
        if key is not None and key.chain == CHANGE:
            change = key
        else:
            recipients.append(send.Recipient(script, out.value))
    if not recipients and change is not None:
        total = sum(out.value for out in tx.vout)
        recipients = [send.Recipient(change.script, total, subtract_fee=True)]
        change = None
    if change is None:
        change = spending.change_key(wallet, [r.script for r in recipients])
    return recipients, change


async def _rate(
    wallet: WalletService,
    choice: FeeChoice,
    original: Any,
    *,
    inputs: list[send.Spendable],
    old_fee: int,
    relay_min: int,
) -> int:
    """The explicit rate checked as Core's CheckFeeRate, or Core's EstimateFeeRate."""
    settings = wallet.spend_settings
    if choice.fee_rate is None:
        old_rate = old_fee * 1000 // tx_vsize(original) + 1
        bumped = old_rate + max(INCREMENTAL_RELAY_FEE, WALLET_INCREMENTAL_RELAY_FEE)
        try:
            floor, _ = spending.fee_rate(choice, settings, relay_min)
        except spending.FallbackFeeDisabled:
            floor = 0
        return max(bumped, floor)
    rate = choice.fee_rate
    if rate < relay_min:
        raise RpcError(
            RpcCode.WALLET_ERROR,
            f"New fee rate ({format_money(rate)}) is lower than the minimum fee rate "
            f"({format_money(relay_min)}) to get into the mempool -- ",
        )
    size = send.estimate_vsize(inputs, [out.script_pubkey.data for out in original.vout])
    new_total = fee_for(rate, size)
    incremental = fee_for(INCREMENTAL_RELAY_FEE, size)
    if new_total < old_fee + incremental:
        raise RpcError(
            RpcCode.INVALID_PARAMETER,
            f"Insufficient total fee {format_money(new_total)}, must be at least "
            f"{format_money(old_fee + incremental)} (oldFee {format_money(old_fee)} + "
            f"incrementalFee {format_money(incremental)})",
        )
    required = fee_for(max(settings.min_tx_fee, relay_min), size)
    if new_total < required:
        raise RpcError(
            RpcCode.INVALID_PARAMETER,
            f"Insufficient total fee (cannot be less than required fee {format_money(required)})",
        )
    if new_total > settings.max_tx_fee:
        raise RpcError(
            RpcCode.WALLET_ERROR,
            f"Specified or calculated fee {format_money(new_total)} is too high (cannot be "
            f"higher than -maxtxfee {format_money(settings.max_tx_fee)})",
        )
    return rate
