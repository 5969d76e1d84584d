"""The node: chain state, validation, mempool, miner and block store."""
