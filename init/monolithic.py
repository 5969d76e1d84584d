"""``wallet.process = "inprocess"``: one process serving the node and its wallet.

Bitcoin Core still ships this monolithic mode (bitcoind). The wallet binds to
the node's own ``Chain`` object: no Cap'n Proto between them, same behaviour
and same errors as when they are split.
"""

from __future__ import annotations

import asyncio

from ipc.interfaces import Chain, Init, Wallet
from ipc.process import WorkerContext
from node.worker import NodeInit, open_node
from wallet.service import WalletService
from wallet.worker import attach_in_background, open_wallet


class MonolithicInit(NodeInit):
    def __init__(self, context: WorkerContext, wallet: WalletService) -> None:
        super().__init__(context, open_node(context))
        self.wallet = wallet
        self._attaching: asyncio.Task[None] | None = None  # held: asyncio keeps only weak refs

    async def make_wallet(self, chain: Chain) -> Wallet:
        # ``chain`` is our own Chain come back through the supervisor; use the object itself.
        self._attaching = attach_in_background(self.wallet, self.service)
        return self.wallet


async def make_init(context: WorkerContext) -> Init:
    return MonolithicInit(context, open_wallet(context))
