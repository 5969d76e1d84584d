"""Which schema carries which interface: the one table the generic adapters consult.

A schema error in ``capnp.load`` aborts the process (it cannot be caught), so
CI compiles every schema with the ``capnp`` tool before any test loads one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import capnp

from ipc.interfaces import Chain, ChainNotifications, Control, Handler, Init, Node, Wallet

_HERE = Path(__file__).parent
_chain = capnp.load(str(_HERE / "chain.capnp"))

SCHEMAS: dict[type, Any] = {
    Init: capnp.load(str(_HERE / "init.capnp")).Init,
    Control: capnp.load(str(_HERE / "control.capnp")).Control,
    Chain: _chain.Chain,
    ChainNotifications: _chain.ChainNotifications,
    Handler: _chain.Handler,
    Node: capnp.load(str(_HERE / "node.capnp")).Node,
    Wallet: capnp.load(str(_HERE / "wallet.capnp")).Wallet,
}


def is_interface(hint: Any) -> bool:
    return isinstance(hint, type) and hint in SCHEMAS
