"""Fee rates as Bitcoin Core counts them: satoshis per 1000 virtual bytes (``CFeeRate``).

One place for the arithmetic node and wallet must agree on: a fee for a size (rounded
up, as ``CFeeRate::GetFee``), the dust threshold (``GetDustThreshold``), and the two ways
Core writes and reads a rate at its RPC door (sat/vB with three decimals).
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from btc.addresses import witness_program
from btc.primitives import COIN, MAX_MONEY, compact_size

DUST_RELAY_FEE = 3000  # sat/kvB, Core's -dustrelayfee
WITNESS_SCALE_FACTOR = 4
_MAX_SCRIPT_SIZE = 10_000
_OP_RETURN = 0x6A


class FeeRateError(ValueError):
    """A fee rate Core's AmountFromValue refuses; the message is Core's."""


def fee_for(rate: int, vsize: int) -> int:
    """Core's ``CFeeRate(rate).GetFee(vsize)``: satoshis for ``vsize`` vbytes at ``rate``
    sat/kvB, rounded up (so a signed transaction never pays less than its rate)."""
    return -(-rate * vsize // 1000)


def dust_threshold(script_pubkey: bytes, rate: int = DUST_RELAY_FEE) -> int:
    """Core's GetDustThreshold: what spending the output would cost at ``rate``.

    The output's own size plus a typical input spending it (148 bytes, or 67 vbytes for a
    witness program): at the dust relay fee 546 sat for P2PKH, 294 for P2WPKH, 330 for
    P2TR. Unspendable outputs (OP_RETURN, oversized scripts) have none.
    """
    if script_pubkey[:1] == bytes([_OP_RETURN]) or len(script_pubkey) > _MAX_SCRIPT_SIZE:
        return 0
    size = 8 + len(compact_size(len(script_pubkey))) + len(script_pubkey)
    witness = witness_program(script_pubkey) is not None
    size += 32 + 4 + 1 + (107 // WITNESS_SCALE_FACTOR if witness else 107) + 4
    return fee_for(rate, size)


def is_dust(script_pubkey: bytes, value: int, rate: int = DUST_RELAY_FEE) -> bool:
    """Core's IsDust: worth less than spending it would cost."""
    return value < dust_threshold(script_pubkey, rate)


def format_sat_vb(rate: int) -> str:
    """Core's ``CFeeRate::ToString(SAT_VB)``: ``"1.000 sat/vB"``."""
    return f"{rate // 1000}.{rate % 1000:03d} sat/vB"


def format_btc_kvb(rate: int) -> str:
    """Core's ``CFeeRate::ToString()``: ``"0.00001000 BTC/kvB"``."""
    return f"{rate // COIN}.{rate % COIN:08d} BTC/kvB"


def parse_sat_vb(value: object) -> int:
    """A ``fee_rate`` argument (sat/vB, a JSON number or string) as sat/kvB: Core's
    ``AmountFromValue(fee_rate, 3)``, which refuses more than three decimals."""
    if isinstance(value, bool) or not isinstance(value, int | Decimal | str | float):
        raise FeeRateError("Amount is not a number or string")
    try:
        rate = Decimal(value if isinstance(value, str) else format(value, "f")) * 1000
    except InvalidOperation:
        raise FeeRateError("Invalid amount") from None
    if not rate.is_finite() or rate != rate.to_integral_value():
        raise FeeRateError("Invalid amount")
    if not 0 <= rate <= MAX_MONEY:
        raise FeeRateError("Amount out of range")
    return int(rate)


def format_money(sats: int) -> str:
    """Core's FormatMoney: eight decimals with trailing zeros trimmed down to two."""
    text = f"{sats // COIN}.{sats % COIN:08d}"
    while text.endswith("0") and len(text.split(".")[1]) > 2:
        text = text[:-1]
    return text
