"""The node's block-generating RPCs, hidden from ``help`` as Core's are (src/rpc/mining.cpp)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from node.rpc.util import address_script
from rpc.spec import Param, Table, Type

if TYPE_CHECKING:
    from node.service import NodeService

TABLE = Table("node")
DEFAULT_MAX_TRIES = 1_000_000


@TABLE.method(
    "hidden",
    "Mine to a specified address and return the block hashes.",
    Param("nblocks", Type.NUM, "How many blocks are generated."),
    Param("address", Type.STR, "The address to send the newly generated bitcoin to."),
    Param("maxtries", Type.NUM, "How many iterations to try.", DEFAULT_MAX_TRIES),
    result='[ "hex", ... ]    (json array) hashes of blocks generated',
    examples=('11 "myaddress"',),
)
async def generatetoaddress(
    node: NodeService, nblocks: int, address: str, maxtries: int
) -> list[str]:
    return await node.generate(max(nblocks, 0), address_script(address))
