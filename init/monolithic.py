"""``wallet.process = "inprocess"``: one process serving the node and its wallet.

Bitcoin Core still ships this monolithic mode (bitcoind). The wallet binds to
the node's own ``Chain`` object: no Cap'n Proto between them, same behaviour
and same errors as when they are split.
"""

from __future__ import annotations

import asyncio

from ipc.interfaces import Init, Wallet, WalletFace
from ipc.process import WorkerContext
from node.worker import NodeInit
from wallet.service import WalletService
from wallet.worker import attach_in_background, open_wallet


class MonolithicInit(NodeInit):
    def __init__(self, context: WorkerContext) -> None:
        super().__init__(context)
        self._wallet: WalletService | None = None
        self._attaching: asyncio.Task[None] | None = None  # held: asyncio keeps only weak refs

    async def load(self) -> None:
        await super().load()
        self._wallet = await open_wallet(self.context)

    @property
    def wallet(self) -> WalletService:
        assert self._wallet is not None, "used before load"
        return self._wallet

    async def make_wallet(self, chain_link: str) -> Wallet:
        # Our own wallet binds to our own Chain, the object itself (no link to ourselves).
        await self.loaded()
        self._attaching = attach_in_background(self.wallet, self.service)
        return self.wallet

    def local_faces(self, wallets: list[WalletFace]) -> list[WalletFace]:
        """Our own wallet, once wired, is the object itself, not its face come back through
        the supervisor; any other wallet is reached as the supervisor hands it over."""
        return [
            WalletFace(face.name, self.wallet)
            if face.wallet is not None and face.name == self.wallet.name
            else face
            for face in wallets
        ]


async def make_init(context: WorkerContext) -> Init:
    return MonolithicInit(context)
