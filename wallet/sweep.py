"""Core's sendall: spend every given coin, no change; the fee comes out of what is left.

Pure: the coins, the recipients and a rate in; an unsigned payment out, or Core's error
(its codes differ from the other sending calls': -8 and -4 where those answer -6).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from embit.script import Script
from embit.transaction import Transaction, TransactionInput, TransactionOutput

from btc.fees import fee_for, is_dust
from ipc.interfaces import RpcCode, RpcError
from wallet.send import Payment, Spendable, estimate_vsize, input_vsize

MAX_STANDARD_TX_WEIGHT = 400_000


@dataclass(frozen=True)
class Share:
    """A sendall recipient: a fixed ``value``, or None for an equal part of the rest."""

    address: str
    script: bytes
    value: int | None


def sweep(
    coins: Sequence[Spendable],
    shares: Sequence[Share],
    rate: int,
    *,
    sequence: int,
    max_fee: int,
    send_max: bool,
) -> Payment:
    """Core's sendall from "estimate final size of tx" on."""
    if send_max:  # only coins worth more than spending them costs
        coins = [c for c in coins if fee_for(rate, input_vsize(c)) <= c.value]
    total = sum(c.value for c in coins)
    vsize = estimate_vsize(coins, [s.script for s in shares])
    fee = fee_for(rate, vsize)
    effective = total - fee
    if fee > max_fee:
        raise RpcError(
            RpcCode.WALLET_ERROR,
            "Fee exceeds maximum configured by user (e.g. -maxtxfee, maxfeerate)",
        )
    if effective <= 0:
        if send_max:
            raise RpcError(
                RpcCode.WALLET_INSUFFICIENT_FUNDS,
                "Total value of UTXO pool too low to pay for transaction, try using lower feerate.",
            )
        raise RpcError(
            RpcCode.WALLET_INSUFFICIENT_FUNDS,
            "Total value of UTXO pool too low to pay for transaction. Try using lower feerate "
            "or excluding uneconomic UTXOs with 'send_max' option.",
        )
    if vsize * 4 > MAX_STANDARD_TX_WEIGHT:
        raise RpcError(RpcCode.WALLET_ERROR, "Transaction too large.")
    claimed = sum(s.value or 0 for s in shares)
    if claimed > total:
        raise RpcError(
            RpcCode.WALLET_INSUFFICIENT_FUNDS,
            "Assigned more value to outputs than available funds.",
        )
    remainder = effective - claimed
    if remainder < 0:
        raise RpcError(
            RpcCode.WALLET_INSUFFICIENT_FUNDS,
            "Insufficient funds for fees after creating specified outputs.",
        )
    open_shares = sum(s.value is None for s in shares)
    outputs = []
    first = True
    for share in shares:
        value = share.value
        if value is None:
            value = remainder // open_shares + (remainder % open_shares if first else 0)
            first = False
            if is_dust(share.script, value):
                raise RpcError(
                    RpcCode.WALLET_INSUFFICIENT_FUNDS,
                    "Dynamically assigned remainder results in dust output.",
                )
        elif is_dust(share.script, value):
            raise RpcError(
                RpcCode.INVALID_PARAMETER,
                f"Specified output amount to {share.address} is below dust threshold.",
            )
        outputs.append(TransactionOutput(value, Script(share.script)))
    tx = Transaction(
        version=2,
        vin=[TransactionInput(bytes.fromhex(c.txid), c.vout, sequence=sequence) for c in coins],
        vout=outputs,
        locktime=0,
    )
    return Payment(tx, list(coins), total - sum(o.value for o in outputs), None, "sendall")
