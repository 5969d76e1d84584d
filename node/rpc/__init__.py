"""The node's RPC methods, one module per Core source file they mirror (src/rpc/*.cpp).

Each module declares its methods on a ``Table``; the node's dispatcher serves them all.
The methods run over ``NodeService`` and only shape what it knows into Core's JSON.
"""

from node.rpc import blockchain, mining, rawtransactions

TABLES = (blockchain.TABLE, mining.TABLE, rawtransactions.TABLE)
