"""The node's network RPCs (Core's src/rpc/net.cpp): a regtest node with no peers.

splitd speaks no P2P at all, so the answers are what Core would say of a node that has
no connections and reaches no network: no peers, every network unreachable, no local
addresses. The version, services and fee rates are splitd's own.
"""

from __future__ import annotations

import re
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

from btc.amounts import btc
from node.mempool import DEFAULT_INCREMENTAL_RELAY_FEE
from rpc.spec import Table

if TYPE_CHECKING:
    from node.service import NodeService

TABLE = Table("node")
PROTOCOL_VERSION = 70016  # Core's PROTOCOL_VERSION
NODE_NETWORK, NODE_WITNESS, NODE_NETWORK_LIMITED = 1, 8, 1024
# Core's service bits by name, in bit order (GetServicesNames)
SERVICE_NAMES = {
    1: "NETWORK",
    4: "BLOOM",
    8: "WITNESS",
    64: "COMPACT_FILTERS",
    1024: "NETWORK_LIMITED",
    2048: "P2P_V2",
}
# A full, unpruned segwit node (P2P_V2 is a transport we do not have)
LOCAL_SERVICES = NODE_NETWORK | NODE_WITNESS | NODE_NETWORK_LIMITED
NETWORKS = (
    "ipv4",
    "ipv6",
    "onion",
    "i2p",
    "cjdns",
)  # Core's order, unroutable and internal left out


def splitd_version() -> str:
    """The installed splitd's version ("0.1.0"), or "0.0.0" from a bare source tree."""
    try:
        return version("splitd")
    except PackageNotFoundError:
        return "0.0.0"


def client_version(text: str) -> int:
    """A version as Core's CLIENT_VERSION of its 0.x days: 1000000 * major + 10000 * minor +
    100 * revision, so splitd 0.1.0 is 10000 (Core 0.21.0 was 210000)."""
    found = re.match(r"(\d+)\.(\d+)\.(\d+)", text)
    major, minor, revision = (int(n) for n in found.groups()) if found else (0, 0, 0)
    return 1_000_000 * major + 10_000 * minor + 100 * revision


@TABLE.method(
    "network",
    "Returns an object containing various state info regarding P2P networking.",
    result="{version, subversion, protocolversion, localservices, localservicesnames, "
    "localrelay, timeoffset, networkactive, connections, connections_in, connections_out, "
    "networks, relayfee, incrementalfee, localaddresses, warnings}    (json object)",
    examples=("",),
)
async def getnetworkinfo(node: NodeService) -> dict[str, Any]:
    """In Core's emitted order (``networkactive`` before ``connections``, unlike its help)."""
    shown = splitd_version()
    return {
        "version": client_version(shown),
        "subversion": f"/splitd:{shown}/",
        "protocolversion": PROTOCOL_VERSION,
        "localservices": f"{LOCAL_SERVICES:016x}",
        "localservicesnames": [name for bit, name in SERVICE_NAMES.items() if LOCAL_SERVICES & bit],
        "localrelay": True,
        "timeoffset": 0,
        "networkactive": True,
        "connections": 0,
        "connections_in": 0,
        "connections_out": 0,
        "networks": [
            {
                "name": name,
                "limited": True,
                "reachable": False,
                "proxy": "",
                "proxy_randomize_credentials": False,
            }
            for name in NETWORKS
        ],
        "relayfee": btc(node.mempool.min_relay_fee),
        "incrementalfee": btc(DEFAULT_INCREMENTAL_RELAY_FEE),
        "localaddresses": [],
        "warnings": [],
    }


@TABLE.method(
    "network",
    "Returns the number of connections to other nodes.",
    result="n    (numeric) The connection count",
    examples=("",),
)
async def getconnectioncount(node: NodeService) -> int:
    return 0


@TABLE.method(
    "network",
    "Returns data about each connected network peer as a json array of objects.",
    result="[{...}, ...]    (json array) none: splitd has no peers",
    examples=("",),
)
async def getpeerinfo(node: NodeService) -> list[dict[str, Any]]:
    return []
