"""bitcoin-cli's words as the JSON params ``execute_rpc`` takes, for tests that drive a
node or wallet face directly, as ``splitd node``/``splitd wallet`` would."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator

import pytest

from btc.amounts import dumps
from ipc.interfaces import SplitdError
from rpc.client import positional


def cli(method: str, words: Iterable[str]) -> str:
    return dumps(positional(method, list(words)))


@contextlib.contextmanager
def raises_rpc(code: int, match: str | None = None) -> Iterator[pytest.ExceptionInfo[SplitdError]]:
    """Like ``pytest.raises``, for the error a JSON-RPC client would be told: Core's code
    (and, with ``match``, a message matching it)."""
    with pytest.raises(SplitdError, match=match) as raised:
        yield raised
    assert raised.value.rpc_code == code, (raised.value.rpc_code, raised.value.message)
