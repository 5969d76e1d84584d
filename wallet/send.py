"""Paying recipients: funding (Core's CreateTransactionInternal: coin selection, change,
the fee); signing is ``wallet.signer``'s.

Pure functions over the coins the service hands in; nothing here touches the
database or the chain. The fee is the chosen rate on a size estimate with the largest
signatures (``signer.worst_input``), so the signed transaction never pays less than its
rate.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from embit.script import Script
from embit.transaction import Transaction, TransactionInput, TransactionOutput

from btc.fees import WITNESS_SCALE_FACTOR, dust_threshold, fee_for, format_money, is_dust
from btc.primitives import compact_size, tx_vsize
from wallet import coinselect
from wallet.signer import worst_input

SEQUENCE_RBF = 0xFFFFFFFD  # BIP125-replaceable, Core's default since v24
SEQUENCE_FINAL_RBF_OFF = 0xFFFFFFFE  # Core's MAX_SEQUENCE_NONFINAL: locktime on, no BIP125
DEFAULT_CONSOLIDATE_FEERATE = 10_000  # sat/kvB, Core's -consolidatefeerate
DEFAULT_DISCARD_FEE = 10_000  # sat/kvB, Core's -discardfee


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


class CannotFund(Exception):
    """Core's CreateTransaction refused; the message is Core's."""


@dataclass(frozen=True)
class Recipient:
    script: bytes
    value: int
    subtract_fee: bool = False


@dataclass(frozen=True)
class FeeRates:
    """The rates one funding uses, sat/kvB (Core's CoinSelectionParams)."""

    effective: int  # what this transaction pays
    long_term: int = DEFAULT_CONSOLIDATE_FEERATE  # what spending a coin later may cost
    discard: int = DEFAULT_DISCARD_FEE  # change worth less than spending it at this is dropped
    max_fee: int | None = None  # Core's -maxtxfee, in satoshis; None: no cap


@dataclass(frozen=True)
class Payment:
    tx: Transaction
    inputs: list[Spendable]  # in the transaction's input order
    fee: int
    change_vout: int | None
    algorithm: str = "manual"


def input_vsize(coin: Spendable) -> int:
    """Core's CalculateMaximumSignedInputSize: outpoint, the largest scriptSig and sequence
    at four weight units a byte, plus the largest witness; 68 vB for P2WPKH, 58 for P2TR,
    91 for P2SH-P2WPKH, 149 for P2PKH (its empty witness counted: never an underestimate)."""
    script_sig, witness = worst_input(coin.kind)
    base = 32 + 4 + len(compact_size(len(script_sig))) + len(script_sig) + 4
    weight = base * WITNESS_SCALE_FACTOR + len(witness.serialize())
    return (weight + WITNESS_SCALE_FACTOR - 1) // WITNESS_SCALE_FACTOR


def output_size(script: bytes) -> int:
    return 8 + len(compact_size(len(script))) + len(script)


def fund(
    tiers: Sequence[Sequence[Spendable]],
    recipients: Sequence[Recipient],
    change: Spendable,
    rates: FeeRates,
    rng: random.Random,
    *,
    preset: Sequence[Spendable] = (),
    sequence: int = SEQUENCE_RBF,
    change_position: int | None = None,
    preset_sequences: Sequence[int] = (),
    version: int = 2,
    locktime: int = 0,
) -> Payment:
    """Core's CreateTransactionInternal: choose coins, make change, and fix the fee.

    ``tiers`` are pools of coins tried in turn (Core's eligibility filters, from the most
    settled coins to our own unconfirmed change); ``preset`` coins are always spent, first
    and in order (with ``preset_sequences``, if given, as a funded raw transaction keeps
    its own). ``change`` stands for the change output: its script and the kind of key that
    would spend it. ``CannotFund`` with Core's message when it cannot be done.
    """
    for recipient in recipients:
        if is_dust(recipient.script, recipient.value):
            raise CannotFund("Transaction amount too small")
    recipients_sum = sum(r.value for r in recipients)
    sffo = sum(r.subtract_fee for r in recipients)
    params = _params(recipients_sum // len(recipients), change, rates, rng, sffo=sffo > 0)
    noinputs = (
        10 + len(compact_size(len(recipients))) + sum(output_size(r.script) for r in recipients)
    )
    target = recipients_sum + (0 if sffo else fee_for(rates.effective, noinputs))
    selection = _select(tiers, preset, target, params, rates=rates, rng=rng)
    if selection is None:
        raise CannotFund(_shortfall(tiers, preset, recipients_sum, target, rates))
    change_value = selection.change(params)
    outputs = [TransactionOutput(r.value, Script(r.script)) for r in recipients]
    change_vout = None
    if change_value > 0:
        if change_position is not None and change_position > len(outputs):
            raise CannotFund("Transaction change output index out of range")
        change_vout = (
            rng.randrange(len(outputs) + 1) if change_position is None else change_position
        )
        outputs.insert(change_vout, TransactionOutput(change_value, Script(change.script)))
    chosen = [c.coin for c in selection.inputs if c.coin not in preset]
    rng.shuffle(chosen)
    inputs = list(preset) + chosen
    sequences = list(preset_sequences) + [sequence] * (len(inputs) - len(preset_sequences))
    tx = Transaction(
        version=version,
        vin=[
            TransactionInput(bytes.fromhex(c.txid), c.vout, sequence=n)
            for c, n in zip(inputs, sequences, strict=True)
        ],
        vout=outputs,
        locktime=locktime,
    )
    fee_needed = fee_for(
        rates.effective, estimate_vsize(inputs, [o.script_pubkey.data for o in outputs])
    )
    paid = selection.value - sum(o.value for o in outputs)
    if change_vout is not None and fee_needed < paid:
        outputs[change_vout].value += paid - fee_needed
        paid = fee_needed
    if sffo:
        _subtract(tx, recipients, change_vout, fee_needed - paid, sffo)
        paid = fee_needed
    if fee_needed > paid:
        raise AssertionError(f"fee needed {fee_needed} > fee paid {paid}")  # Core's internal bug
    if rates.max_fee is not None and paid > rates.max_fee:
        raise CannotFund("Fee exceeds maximum configured by user (e.g. -maxtxfee, maxfeerate)")
    return Payment(tx, inputs, paid, change_vout, selection.algorithm)


def _params(
    payment_value: int,
    change: Spendable,
    rates: FeeRates,
    rng: random.Random,
    *,
    sffo: bool,
) -> coinselect.Params:
    change_fee = fee_for(rates.effective, output_size(change.script))
    spend_change = fee_for(rates.discard, input_vsize(change))
    return coinselect.Params(
        change_fee=change_fee,
        cost_of_change=spend_change + change_fee,
        min_viable_change=max(spend_change + 1, dust_threshold(change.script, rates.discard)),
        min_change_target=coinselect.change_target(payment_value, change_fee, rng),
        subtract_fee_outputs=sffo,
    )


def _select(
    tiers: Sequence[Sequence[Spendable]],
    preset: Sequence[Spendable],
    target: int,
    params: coinselect.Params,
    *,
    rates: FeeRates,
    rng: random.Random,
) -> coinselect.Selection | None:
    """Core's SelectCoins: the preset coins, then automatic selection for what is left."""
    use_effective = not params.subtract_fee_outputs

    def offered(coin: Spendable) -> coinselect.Candidate:
        size = input_vsize(coin)
        return coinselect.candidate(coin, coin.value, size, rates.effective, rates.long_term)

    fixed = [offered(c) for c in preset]
    covered = sum(c.effective_value if use_effective else c.value for c in fixed)
    if preset and covered >= target:
        return coinselect.Selection(tuple(fixed), target, "manual", use_effective)
    for tier in tiers:
        pool = [offered(c) for c in tier if c not in preset]
        found = coinselect.choose(pool, target - covered, params, rng)
        if found is not None:
            return coinselect.Selection(
                tuple(fixed) + found.inputs, target, found.algorithm, use_effective
            )
    return None


def _shortfall(
    tiers: Sequence[Sequence[Spendable]],
    preset: Sequence[Spendable],
    recipients_sum: int,
    target: int,
    rates: FeeRates,
) -> str:
    """Core's words for a selection that failed: the fee is what does not fit, or not."""
    coins = {(c.txid, c.vout): c for c in (*preset, *(c for tier in tiers for c in tier))}
    if sum(c.value for c in coins.values()) >= recipients_sum:
        effective = sum(c.value - fee_for(rates.effective, input_vsize(c)) for c in coins.values())
        if effective < target:
            fee = format_money(target - recipients_sum)
            return f"The total exceeds your balance when the {fee} transaction fee is included."
    return "Insufficient funds"


def _subtract(
    tx: Transaction, recipients: Sequence[Recipient], change_vout: int | None, fee: int, count: int
) -> None:
    """Core's subtractFeeFromAmount: the fee split evenly over the marked recipients, the
    first of them paying the remainder; none may be left as dust."""
    outputs = [out for i, out in enumerate(tx.vout) if i != change_vout]
    first = True
    for recipient, out in zip(recipients, outputs, strict=True):
        if not recipient.subtract_fee:
            continue
        out.value -= fee // count
        if first:
            out.value -= fee % count
            first = False
        if is_dust(out.script_pubkey.data, out.value):
            if out.value < 0:
                raise CannotFund("The transaction amount is too small to pay the fee")
            raise CannotFund(
                "The transaction amount is too small to send after the fee has been deducted"
            )


def estimate_vsize(inputs: Sequence[Spendable], scripts: Sequence[bytes]) -> int:
    """Core's CalculateMaximumSignedTxSize: the vsize with the largest signatures."""
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
