"""The node's control RPCs (Core's src/rpc/server.cpp and node.cpp)."""

from __future__ import annotations

from rpc.spec import Table

TABLE = Table("node")
