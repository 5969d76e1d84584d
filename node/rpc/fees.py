"""The node's fee-estimation RPCs (Core's src/rpc/fees.cpp)."""

from __future__ import annotations

from rpc.spec import Table

TABLE = Table("node")
