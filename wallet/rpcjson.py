"""Amounts and JSON as Bitcoin Core's RPC writes them: BTC with exactly 8 decimals.

``json.dumps`` of a float cannot print ``50.00000000`` (it prints ``50.0``), and floats
are not exact for satoshi amounts anyway. Amounts are ``Decimal`` here and
:func:`dumps` writes a ``Decimal`` as the plain number it is. A reader that wants the
digits back uses ``json.loads(text, parse_float=decimal.Decimal)``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from decimal import Decimal, InvalidOperation
from typing import Any

COIN = 100_000_000
MAX_MONEY = 21_000_000 * COIN
_EIGHT = Decimal("0.00000001")
_NUMBER = re.compile(r"^-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")


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


def dumps(value: Any, indent: int | None = None) -> str:
    """JSON text as ``json.dumps`` writes it (``indent`` too), with every ``Decimal`` written
    as its exact digits."""
    return "".join(_encode(value, indent, 0))


def _encode(value: Any, indent: int | None, level: int) -> Iterator[str]:
    if isinstance(value, Decimal):
        yield format(value, "f")
        return
    if isinstance(value, dict):
        items: list[tuple[str | None, Any]] = [(str(k), v) for k, v in value.items()]
        opening, closing = "{", "}"
    elif isinstance(value, list | tuple):
        items = [(None, v) for v in value]
        opening, closing = "[", "]"
    else:
        yield json.dumps(value)
        return
    if not items:
        yield opening + closing
        return
    inner = "" if indent is None else "\n" + " " * (indent * (level + 1))
    separator = ", " if indent is None else ","
    yield opening
    for i, (key, item) in enumerate(items):
        yield (separator if i else "") + inner
        if key is not None:
            yield json.dumps(key) + ": "
        yield from _encode(item, indent, level + 1)
    yield ("" if indent is None else "\n" + " " * (indent * level)) + closing
