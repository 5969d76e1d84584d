"""The node's network RPCs (Core's src/rpc/net.cpp): a regtest node with no peers."""

from __future__ import annotations

from rpc.spec import Table

TABLE = Table("node")
