"""The wallet worker's entry point: what the supervisor names as ``wallet.worker:make_init``."""

from __future__ import annotations

import asyncio

import structlog

from btc.amounts import parse_amount
from ipc.interfaces import Chain, Init, Wallet
from ipc.process import WorkerContext, WorkerInit
from ipc.worker import ProviderLink
from wallet.service import WalletService
from wallet.spending import SpendSettings

DEFAULT_WALLET = "default"


log = structlog.get_logger()


def attach_in_background(service: WalletService, chain: Chain) -> asyncio.Task[None]:
    """Bind ``service`` to ``chain`` and let it catch up without holding up the caller.

    A wallet far behind must not outlast the deadline of the call that wires it;
    meanwhile it answers from its own db, as Core's wallet does while it rescans.
    A catch-up cut short by the node going away resumes at the next wiring.
    """

    def report(task: asyncio.Task[None]) -> None:
        error = None if task.cancelled() else task.exception()
        if error is not None:
            log.warning("wallet_catch_up_interrupted", error=repr(error))

    task = asyncio.get_running_loop().create_task(service.attach(chain))
    task.add_done_callback(report)
    return task


class WalletInit(WorkerInit):
    def __init__(self, context: WorkerContext) -> None:
        super().__init__(context)
        self._service: WalletService | None = None
        self._attaching: asyncio.Task[None] | None = None  # held: asyncio keeps only weak refs
        self.chain = ProviderLink(context.reach, lambda init: init.make_chain())

    async def load(self) -> None:
        """Open the wallet file beside serving: the file's sqlite work (and a lock another
        process holds on it) in a thread, so pings are answered meanwhile."""
        self._service = await open_wallet(self.context)

    async def make_wallet(self, chain_link: str) -> Wallet:
        """Bind the one wallet of this process to the node's ``Chain``, reached over its
        link (notifications come over it too, not through the supervisor); again after
        every node restart."""
        service = await self.service()
        chain = await self.chain.face(chain_link)
        self._attaching = attach_in_background(service, chain)
        return service

    async def service(self) -> WalletService:
        await self.loaded()
        assert self._service is not None
        return self._service


async def open_wallet(context: WorkerContext) -> WalletService:
    """``<datadir>/wallets/NAME``, the wallet the supervisor named (``default`` in the
    monolithic node); a wallet that cannot open cannot start."""
    name = context.launch.wallet or DEFAULT_WALLET
    directory = context.launch.datadir / "wallets" / name
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    return await asyncio.to_thread(
        WalletService.open, directory, name, spend_settings=spend_settings(context)
    )


def spend_settings(context: WorkerContext) -> SpendSettings:
    """``[wallet]``'s fee settings, in the satoshis the wallet counts in."""
    settings = context.launch.settings.wallet
    return SpendSettings(
        fallback_fee=_sats(settings.fallbackfee), max_tx_fee=_sats(settings.maxtxfee)
    )


def _sats(amount: float) -> int:
    """A BTC amount from the config (at most 8 decimals, checked there) in satoshis."""
    return parse_amount(str(amount))


async def make_init(context: WorkerContext) -> Init:
    return WalletInit(context)
