"""What bitcoin-cli does with the words of a command line before it sends them: each word
becomes a JSON value (``RPCConvertValues``), or with ``-named`` each ``key=value`` a named
one (``RPCConvertNamedValues``), by Core's conversion table."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from rpc.conversion import CONVERT, JSON, JSON_OR_STRING

_BY_POSITION: dict[tuple[str, int], str] = {}
_BY_NAME: dict[tuple[str, str], str] = {}
for _method, _index, _name, _format in CONVERT:  # the first row for a key wins, as in Core
    _BY_POSITION.setdefault((_method, _index), _format)
    _BY_NAME.setdefault((_method, _name), _format)


class ConversionError(ValueError):
    """A word the table says is JSON is not; the message is bitcoin-cli's."""


def _refuse_constant(name: str) -> Any:
    raise ValueError(name)  # NaN and Infinity: Python's extension, not JSON


def parse_json(word: str) -> Any:
    """A word as a JSON value (numbers exact), or ``ConversionError``.

    Stricter than UniValue in one way: no white space around the value, so a height of
    " 1" is an error rather than block 1.
    """
    if word != word.strip():
        raise ConversionError(f"Error parsing JSON: {word}")
    try:
        return json.loads(word, parse_float=Decimal, parse_constant=_refuse_constant)
    except ValueError:
        raise ConversionError(f"Error parsing JSON: {word}") from None


def _convert(word: str, format: str | None) -> Any:
    if format == JSON:
        return parse_json(word)
    if format == JSON_OR_STRING:
        try:
            return parse_json(word)
        except ConversionError:
            return word
    return word


def positional(method: str, words: list[str]) -> list[Any]:
    """``RPCConvertValues``: the params array."""
    return [_convert(word, _BY_POSITION.get((method, i))) for i, word in enumerate(words)]


def named(method: str, words: list[str]) -> dict[str, Any]:
    """``RPCConvertNamedValues``: ``key=value`` words by name (a later one wins), words
    without ``=`` as positional ones, gathered under ``args``.

    As Core since v30: a ``NAME=VALUE`` word whose NAME is no parameter of the method
    is positional when the next position takes a string, or takes JSON and the whole
    word parses as JSON.
    """
    params: dict[str, Any] = {}
    args: list[Any] = []
    for word in words:
        name, equals, value = word.partition("=")
        if equals and (method, name) not in _BY_NAME:
            next_format = _BY_POSITION.get((method, len(args)))
            if next_format == JSON:
                try:
                    args.append(parse_json(word))
                    continue
                except ConversionError:
                    pass
            elif next_format is not None and next_format != JSON_OR_STRING:
                args.append(word)
                continue
        if not equals:
            args.append(_convert(word, _BY_POSITION.get((method, len(args)))))
            continue
        params[name] = _convert(value, _BY_NAME.get((method, name)))
    if args:
        params.setdefault("args", args)
    return params
