"""Addresses, scripts and descriptors (Core's src/rpc/output_script.cpp)."""

from __future__ import annotations

from rpc.spec import Table

TABLE = Table("node")
