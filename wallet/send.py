"""Paying an address: coin selection, fee and change (signing is wallet.signer's).

Pure functions over the coins the service hands in; nothing here touches the
database or the chain. The fee is the one Core's minimum relay rule asks for,
computed on a size estimate with the largest signatures (``signer.worst_input``),
so the signed transaction is never smaller than what it pays for.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from embit.script import Script
from embit.transaction import Transaction, TransactionInput, TransactionOutput

from btc.addresses import witness_program
from btc.primitives import compact_size, tx_vsize
from wallet.signer import worst_input

SEQUENCE_RBF = 0xFFFFFFFD  # BIP125-replaceable, Core's default since v24
DUST_RELAY_FEE = 3000  # sat per kvB, Core's -dustrelayfee


class NotEnoughFunds(Exception):
    """The coins offered cannot pay the amount and its fee."""


class AmountTooSmall(Exception):
    """What is left for the recipient would be dust; the message is Core's."""


@dataclass(frozen=True)
class Spendable:
    """A coin the wallet can sign for, and the key path that signs it."""

    txid: str
    vout: int
    value: int
    script: bytes
    kind: str  # the key's (wallet.keys): its script and how it signs (wallet.signer)
    chain: int
    index: int


@dataclass(frozen=True)
class Payment:
    tx: Transaction
    inputs: list[Spendable]
    fee: int
    change_vout: int | None


def dust_threshold(script: bytes, dust_relay_fee: int = DUST_RELAY_FEE) -> int:
    """Core's GetDustThreshold: below it, an output costs more to spend than it holds."""
    size = 8 + len(compact_size(len(script))) + len(script)
    if witness_program(script) is not None:
        size += 32 + 4 + 1 + 107 // 4 + 4
    else:
        size += 32 + 4 + 1 + 107 + 4
    return size * dust_relay_fee // 1000


def fee_for(vsize: int, feerate: int) -> int:
    """``feerate`` sat/kvB for ``vsize`` virtual bytes, rounded up."""
    return -(-vsize * feerate // 1000)


def plan(
    coins: Sequence[Spendable],
    destination: bytes,
    amount: int,
    change_script: bytes,
    feerate: int,
    *,
    subtract_fee: bool = False,
) -> Payment:
    """Largest-first selection over ``coins``; an unsigned transaction paying ``amount``.

    The change output goes at a random position (as Core does), and is left out
    when it would be dust: what it would have held goes to the fee.
    """
    if not subtract_fee and amount < dust_threshold(destination):
        raise AmountTooSmall("Transaction amount too small")
    selected: list[Spendable] = []
    total = 0
    for coin in sorted(coins, key=lambda c: (-c.value, c.txid, c.vout)):
        selected.append(coin)
        total += coin.value
        payment = _try(
            selected,
            total,
            destination=destination,
            amount=amount,
            change_script=change_script,
            feerate=feerate,
            subtract_fee=subtract_fee,
        )
        if payment is not None:
            return payment
    raise NotEnoughFunds("Insufficient funds")


def _try(
    selected: list[Spendable],
    total: int,
    *,
    destination: bytes,
    amount: int,
    change_script: bytes,
    feerate: int,
    subtract_fee: bool,
) -> Payment | None:
    if total < amount:
        return None
    with_change = fee_for(_estimate(selected, [destination, change_script]), feerate)
    without_change = fee_for(_estimate(selected, [destination]), feerate)
    if subtract_fee:
        change = total - amount
        if change >= dust_threshold(change_script):
            return _payment(selected, destination, amount - with_change, change_script, change)
        return _payment(selected, destination, amount - without_change, change_script, 0)
    change = total - amount - with_change
    if change >= dust_threshold(change_script):
        return _payment(selected, destination, amount, change_script, change)
    if total - amount >= without_change:
        return _payment(selected, destination, amount, change_script, 0)
    return None


def _payment(
    inputs: list[Spendable], destination: bytes, value: int, change_script: bytes, change: int
) -> Payment:
    if value < dust_threshold(destination):
        raise AmountTooSmall("The transaction amount is too small to pay the fee")
    outputs = [TransactionOutput(value, Script(destination))]
    change_vout = None
    if change:
        change_vout = secrets.randbelow(2)
        outputs.insert(change_vout, TransactionOutput(change, Script(change_script)))
    tx = Transaction(
        version=2,
        vin=[
            TransactionInput(bytes.fromhex(coin.txid), coin.vout, sequence=SEQUENCE_RBF)
            for coin in inputs
        ],
        vout=outputs,
        locktime=0,
    )
    fee = sum(c.value for c in inputs) - sum(out.value for out in outputs)
    return Payment(tx, list(inputs), fee, change_vout)


def _estimate(inputs: Sequence[Spendable], scripts: Sequence[bytes]) -> int:
    """The vsize of the signed transaction, with the largest signatures."""
    tx = Transaction(
        version=2,
        vin=[
            TransactionInput(
                bytes.fromhex(c.txid),
                c.vout,
                script_sig=Script(worst_input(c.kind)[0]),
                sequence=SEQUENCE_RBF,
                witness=worst_input(c.kind)[1],
            )
            for c in inputs
        ],
        vout=[TransactionOutput(0, Script(script)) for script in scripts],
        locktime=0,
    )
    return tx_vsize(tx)
