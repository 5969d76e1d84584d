"""The wallet worker's entry point: what the supervisor names as ``wallet.worker:make_init``."""

from __future__ import annotations

from ipc.interfaces import Chain, Init, Wallet
from ipc.process import WorkerContext, WorkerInit
from wallet.service import WalletService

DEFAULT_WALLET = "default"


class WalletInit(WorkerInit):
    def __init__(self, context: WorkerContext, service: WalletService) -> None:
        super().__init__(context)
        self.service = service

    async def make_wallet(self, chain: Chain) -> Wallet:
        """Bind the one wallet of this process to ``chain``; again after every node restart."""
        await self.service.attach(chain)
        return self.service


def open_wallet(context: WorkerContext) -> WalletService:
    """``<datadir>/wallets/default``; a wallet that cannot open cannot start."""
    directory = context.launch.datadir / "wallets" / DEFAULT_WALLET
    directory.mkdir(parents=True, exist_ok=True)
    return WalletService.open(directory, DEFAULT_WALLET)


async def make_init(context: WorkerContext) -> Init:
    return WalletInit(context, open_wallet(context))
