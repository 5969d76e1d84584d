"""The wallet worker's entry point: what the supervisor names as ``wallet.worker:make_init``."""

from __future__ import annotations

from ipc.interfaces import Init
from ipc.process import WorkerContext, WorkerInit

DEFAULT_WALLET = "default"


async def make_init(context: WorkerContext) -> Init:
    """Open the wallet's directory; a wallet that cannot is a wallet that cannot start."""
    (context.launch.datadir / "wallets" / DEFAULT_WALLET).mkdir(parents=True, exist_ok=True)
    return WorkerInit(context)
