"""The node's RPC methods, one module per Core source file they mirror (src/rpc/*.cpp).

Each module declares its methods on a ``Table``; the node's dispatcher serves them all.
The methods run over ``NodeService`` and only shape what it knows into Core's JSON.
"""

from node.rpc import (
    blockchain,
    blocks,
    control,
    fees,
    generate,
    mempool,
    mining,
    net,
    output_script,
    psbt,
    rawtransactions,
)

TABLES = (
    blockchain.TABLE,
    blocks.TABLE,
    mempool.TABLE,
    mining.TABLE,
    generate.TABLE,
    rawtransactions.TABLE,
    psbt.TABLE,
    output_script.TABLE,
    fees.TABLE,
    net.TABLE,
    control.TABLE,
)
