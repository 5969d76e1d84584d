"""Amounts and JSON as Bitcoin Core's RPC writes them: BTC with exactly 8 decimals.

``json.dumps`` of a float cannot print ``50.00000000`` (it prints ``50.0``), and floats
are not exact for satoshi amounts anyway. Amounts are ``Decimal`` here and
:func:`dumps` writes a ``Decimal`` as the plain number it is. A reader that wants the
digits back uses ``json.loads(text, parse_float=decimal.Decimal)``.
"""

from __future__ import annotations

import json
import re
import secrets
from decimal import Decimal, InvalidOperation
from typing import Any

from btc.primitives import COIN, MAX_MONEY

_EIGHT = Decimal("0.00000001")
_NUMBER = re.compile(r"^-?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?$")


class AmountError(ValueError):
    """An amount Core would refuse; the message is Core's."""


def btc(sats: int) -> Decimal:
    """Satoshis as BTC, always with 8 decimals (``Decimal("50.00000000")``)."""
    return (Decimal(sats) / COIN).quantize(_EIGHT)


def parse_amount(text: str) -> int:
    """A BTC amount as bitcoin-cli passes it (``"0.1"``, ``"1e-3"``) -> satoshis.

    Core's AmountFromValue: at most 8 decimals ("Invalid amount"), within
    0..21,000,000 BTC ("Amount out of range").
    """
    if not _NUMBER.match(text.strip()):
        raise AmountError("Invalid amount")
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise AmountError("Invalid amount") from None
    sats = value * COIN
    if sats != sats.to_integral_value():
        raise AmountError("Invalid amount")
    if not 0 <= sats <= MAX_MONEY:
        raise AmountError("Amount out of range")
    return int(sats)


def sats_from_json(value: object) -> int:
    """Core's AmountFromValue: a JSON number or numeric string -> satoshis, or Core's
    "Amount is not a number or string" / "Invalid amount" / "Amount out of range"."""
    if isinstance(value, bool) or not isinstance(value, int | Decimal | str):
        raise AmountError("Amount is not a number or string")
    return parse_amount(value if isinstance(value, str) else format(value, "f"))


# Each Decimal goes through json's C encoder as a string carrying this process's secret
# token, and the quotes around it are taken off afterwards: no user string can carry a
# token it never saw, and json.dumps stays fast (a generator walk of a big
# listtransactions took longer than the health check's patience).
_TOKEN = secrets.token_hex(16)
_MARKED = re.compile(f'"{_TOKEN}(-?[0-9]+\\.?[0-9]*)"')


def _mark(value: object) -> str:
    if isinstance(value, Decimal):
        return f"{_TOKEN}{value:f}"
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def dumps(value: Any, indent: int | None = None) -> str:
    """JSON text as ``json.dumps`` writes it (``indent`` too), with every ``Decimal`` written
    as its exact digits."""
    return _MARKED.sub(r"\1", json.dumps(value, indent=indent, default=_mark))
