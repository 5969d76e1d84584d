"""Sending from a ``WalletService``: the fee rate, the coins, then record and broadcast.

The service-side half of Core's CreateTransaction and CommitTransaction; the pure half
(selection, change, the fee) is ``wallet.send``. The rate is Core's GetMinimumFeeRate:
an explicit ``fee_rate``, else the node's estimate (our node has no estimator, so there
never is one), else ``wallet.fallbackfee``, and never below the relay minimum.

Durability is Core's: the send is recorded, its coins marked spent, in one sqlite
transaction before the node hears of it.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import structlog
from embit.transaction import Transaction

from btc.addresses import witness_program
from btc.amounts import btc
from btc.fees import format_sat_vb
from btc.primitives import hash_to_hex, serialize_transaction, txid
from ipc.interfaces import (
    CallTimeout,
    Chain,
    InsufficientFunds,
    TxRejected,
    WorkerUnavailable,
)
from wallet import send, signer
from wallet.keyrecords import KeyRow
from wallet.keys import BECH32, BECH32M, CHANGE
from wallet.view import MATURE_CONFIRMATIONS

if TYPE_CHECKING:
    from wallet.db import CoinRow
    from wallet.service import WalletService

log = structlog.get_logger()

DEFAULT_FALLBACK_FEE = 20_000  # sat/kvB: 0.0002 BTC/kvB, as Core's regtest tests set it
DEFAULT_MAX_TX_FEE = 10_000_000  # satoshis: Core's -maxtxfee 0.10 BTC
DEFAULT_MIN_TX_FEE = 1000  # sat/kvB, Core's -mintxfee
OTHERS_CONFIRMATIONS = 6  # Core's CoinEligibilityFilter(1, 6, 0): others' coins wait for 6

# Core's StringForFeeReason, for verbose results.
REASON_EXPLICIT = "PayTxFee set"
REASON_FALLBACK = "Fallback fee"
REASON_REQUIRED = "Minimum Required Fee"
REASON_MEMPOOL_MIN = "Mempool Min Fee"


@dataclass(frozen=True)
class SpendSettings:
    """The wallet's own fee settings (``[wallet]`` in the config)."""

    fallback_fee: int = DEFAULT_FALLBACK_FEE  # sat/kvB; 0 disables it
    max_tx_fee: int = DEFAULT_MAX_TX_FEE  # satoshis
    min_tx_fee: int = DEFAULT_MIN_TX_FEE  # sat/kvB
    signal_rbf: bool = True  # Core's -walletrbf


@dataclass(frozen=True)
class FeeChoice:
    """What a call asked for (Core's CCoinControl fee fields), already checked."""

    fee_rate: int | None = None  # sat/kvB, explicit
    conf_target: int | None = None
    estimate_mode: str = "unset"
    replaceable: bool | None = None


@dataclass(frozen=True)
class Funded:
    """A funded, unsigned payment and what it took."""

    payment: send.Payment
    change: KeyRow
    fee_reason: str


class FeeRateTooLow(send.CannotFund):
    """An explicit fee_rate below the wallet's minimum."""


class FallbackFeeDisabled(send.CannotFund):
    """No estimate and ``wallet.fallbackfee = 0``."""


def fee_rate(choice: FeeChoice, settings: SpendSettings, relay_min: int) -> tuple[int, str]:
    """Core's GetMinimumFeeRate and the checks CreateTransaction makes of it: the rate in
    sat/kvB and why (Core's FeeReason words)."""
    if choice.fee_rate is not None:
        rate, reason = choice.fee_rate, REASON_EXPLICIT
    else:
        # No estimator on our node (Core's estimateSmartFee answers 0): the fallback fee.
        if settings.fallback_fee == 0:
            raise FallbackFeeDisabled(
                "Fee estimation failed. Fallbackfee is disabled. Wait a few blocks or enable "
                "-fallbackfee."
            )
        rate, reason = settings.fallback_fee, REASON_FALLBACK
        if rate < relay_min:
            rate, reason = relay_min, REASON_MEMPOOL_MIN
    required = max(settings.min_tx_fee, relay_min)
    if required > rate:
        rate, reason = required, REASON_REQUIRED
    if choice.fee_rate is not None and rate > choice.fee_rate:
        message = (
            f"Fee rate ({format_sat_vb(choice.fee_rate)}) is lower than the minimum fee rate "
            f"setting ({format_sat_vb(rate)})."
        )
        if reason == REASON_REQUIRED:
            message += (
                f"\nConsider modifying -mintxfee ({format_sat_vb(settings.min_tx_fee)}) or "
                f"-minrelaytxfee ({format_sat_vb(relay_min)})."
            )
        raise FeeRateTooLow(message)
    return rate, reason


async def fund(
    wallet: WalletService,
    recipients: Sequence[send.Recipient],
    choice: FeeChoice,
    *,
    preset: Sequence[send.Spendable] = (),
    add_inputs: bool = True,
    change_position: int | None = None,
    override_min_fee: bool = False,
    **shape: Any,
) -> Funded:
    """Core's CreateTransaction (send lock held): ``send.CannotFund`` with Core's words.
    ``shape``: ``send.fund``'s ``preset_sequences``, ``version``, ``locktime``."""
    if override_min_fee and choice.fee_rate is not None:  # Core's fOverrideFeeRate
        rate, reason = choice.fee_rate, REASON_EXPLICIT
    else:
        relay_min = await chain_of(wallet).relay_min_fee()
        rate, reason = fee_rate(choice, wallet.spend_settings, relay_min)
    change = change_key(wallet, [r.script for r in recipients])
    payment = send.fund(
        coin_tiers(wallet) if add_inputs else [],
        recipients,
        change_stand_in(change),
        send.FeeRates(rate, max_fee=wallet.spend_settings.max_tx_fee),
        random.SystemRandom(),
        preset=preset,
        sequence=sequence(choice, wallet.spend_settings),
        change_position=change_position,
        **shape,
    )
    return Funded(payment, change, reason)


async def pay(
    wallet: WalletService, recipients: Sequence[send.Recipient], choice: FeeChoice
) -> tuple[str, str]:
    """Core's SendMoney: fund, sign, record, broadcast; the txid and the fee reason.
    Every funding failure is Core's -6."""
    async with wallet.send_lock:
        try:
            funded = await fund(wallet, recipients, choice)
        except send.CannotFund as error:
            raise InsufficientFunds(str(error)) from None
        tx_hash = await finish(wallet, funded.payment, funded.change)
    return tx_hash, funded.fee_reason


async def finish(wallet: WalletService, payment: send.Payment, change: KeyRow | None) -> str:
    """Sign, record and broadcast a funded payment (send lock held); its txid."""
    chain = chain_of(wallet)
    signed = signer.sign(payment.tx, payment.inputs, wallet.keys.signing())
    tx_hash = commit(wallet, signed, payment, change)
    await broadcast(wallet, chain, signed, tx_hash)
    log.info(
        "wallet_sent",
        wallet=wallet.name,
        txid=tx_hash,
        amount=str(
            btc(sum(o.value for i, o in enumerate(signed.vout) if i != payment.change_vout))
        ),
        fee=str(btc(payment.fee)),
        inputs=len(payment.inputs),
        algorithm=payment.algorithm,
    )
    return tx_hash


def chain_of(wallet: WalletService) -> Chain:
    chain = wallet.chain
    if chain is None:
        raise WorkerUnavailable("the wallet is not attached to a node")
    return chain


def sequence(choice: FeeChoice, settings: SpendSettings) -> int:
    """BIP125 signalling unless asked not to (Core: an explicit fee_rate defaults it on)."""
    replaceable = choice.replaceable
    if replaceable is None:
        replaceable = True if choice.fee_rate is not None else settings.signal_rbf
    return send.SEQUENCE_RBF if replaceable else send.SEQUENCE_FINAL_RBF_OFF


def coin_tiers(wallet: WalletService) -> list[list[send.Spendable]]:
    """Core's eligibility filters without the ancestor limits, tried in turn: coins with 6
    confirmations (1 for our own transactions' outputs), then any confirmed coin, then also
    our own trusted unconfirmed change."""
    coins = available(wallet)
    ours: dict[str, bool] = {}

    def settled(coin: send.Spendable, confirmations: int) -> bool:
        if confirmations >= OTHERS_CONFIRMATIONS:
            return True
        if confirmations < 1:
            return False
        if coin.txid not in ours:  # only the few young coins need their transaction read
            ours[coin.txid] = _from_me(wallet, coin.txid)
        return ours[coin.txid]

    return [
        [coin for coin, confirmations in coins if settled(coin, confirmations)],
        [coin for coin, confirmations in coins if confirmations > 0],
        [coin for coin, _ in coins],
    ]


def _from_me(wallet: WalletService, txid_hex: str) -> bool:
    """Core's IsFromMe: the transaction spends a coin of ours."""
    row = wallet.db.tx(txid_hex)
    return row is not None and not row.coinbase and row.debit > 0


def available(wallet: WalletService) -> list[tuple[send.Spendable, int]]:
    """Core's AvailableCoins: our safe coins and their confirmations; never an immature
    coinbase, a locked coin, or someone else's unconfirmed payment."""
    view = wallet.view()
    found = []
    for coin in wallet.db.coins():
        if (coin.txid, coin.vout) in wallet.locks:
            continue
        confirmations = view.confirmations(coin.height)
        if coin.coinbase and confirmations < MATURE_CONFIRMATIONS:
            continue
        if confirmations == 0 and not view.trusted(coin.txid):
            continue
        found.append((spendable(wallet, coin), confirmations))
    return found


def spendable(wallet: WalletService, coin: CoinRow) -> send.Spendable:
    """Our coin with the key that signs it."""
    key = wallet.db.key_of(coin.script)
    assert key is not None  # a coin is ours because its script is one of our keys'
    return send.Spendable(
        coin.txid, coin.vout, coin.value, coin.script, key.kind, key.chain, key.index
    )


def change_key(wallet: WalletService, destinations: Sequence[bytes]) -> KeyRow:
    """Core's TransactionChangeType without -changetype: taproot change when any recipient
    is a witness v1+ program, bech32 otherwise. Not handed out yet: committed with the
    send that uses it."""
    programs = [witness_program(script) for script in destinations]
    taproot = any(p is not None and p[0] >= 1 for p in programs)
    kind = BECH32M if taproot else BECH32
    with wallet.db.transaction():
        wallet.db.top_up(wallet.keychain, wallet.keypool, {kind})
    return wallet.db.next_unused(CHANGE, kind)


def change_stand_in(key: KeyRow) -> send.Spendable:
    """The change output as selection sees it: its script, and how it would be spent."""
    return send.Spendable("00" * 32, 0, 0, key.script, key.kind, key.chain, key.index)


def commit(
    wallet: WalletService, tx: Transaction, payment: send.Payment, change: KeyRow | None
) -> str:
    """Core's CommitTransaction: the send and its spent coins, in one sqlite transaction,
    before the node hears of it. A wallet killed after this rebroadcasts at its next
    attach; one killed before it has sent nothing."""
    with wallet.db.transaction():
        return record(wallet, tx, payment, change)


def record(
    wallet: WalletService, tx: Transaction, payment: send.Payment, change: KeyRow | None
) -> str:
    """``commit``'s writes, inside the caller's sqlite transaction; the txid."""
    tx_hash = hash_to_hex(txid(tx))
    if change is not None and payment.change_vout is not None:
        wallet.db.mark_used(change.script, wallet.keychain, wallet.keypool)
    wallet.db.apply_tx(tx, None, tx_hash=tx_hash)
    return tx_hash


async def broadcast(wallet: WalletService, chain: Chain, tx: Transaction, tx_hash: str) -> None:
    """Hand a committed send to the node. Refused: abandoned, its coins ours again, and
    the refusal is the caller's answer. No answer (the node went away): it stays
    pending and goes out again at the next attach; the send itself is done."""
    try:
        await chain.broadcast_transaction(serialize_transaction(tx))
    except TxRejected as rejection:
        with wallet.db.transaction():
            wallet.db.abandon_tx(tx_hash)
        log.warning("wallet_tx_abandoned", txid=tx_hash, reason=rejection.reason)
        raise
    except (WorkerUnavailable, CallTimeout) as error:
        log.warning("wallet_tx_pending", txid=tx_hash, reason=error.message)
        return
    wallet.mempool.add(tx_hash)
