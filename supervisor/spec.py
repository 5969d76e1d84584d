"""Child specs: which workers a configuration asks for, as plain data, in start order."""

from __future__ import annotations

from dataclasses import dataclass

from config import Settings


@dataclass(frozen=True)
class WorkerSpec:
    name: str
    role: str
    entry: str  # "module:function" run in the child; the supervisor never imports it
    restart: str  # permanent | transient | temporary
    hosts_wallet: bool = False  # serves Init.make_wallet: the wallet worker, or a monolithic node

    @property
    def module(self) -> str:
        return self.entry.partition(":")[0]


def worker_specs(settings: Settings) -> list[WorkerSpec]:
    """The node first, then its wallet; or one node process that hosts the wallet too."""
    if settings.wallet.process == "inprocess":
        return [
            WorkerSpec("node", "node", "init.monolithic:make_init", settings.node.restart, True)
        ]
    return [
        WorkerSpec("node", "node", "node.worker:make_init", settings.node.restart),
        WorkerSpec("wallet", "wallet", "wallet.worker:make_init", settings.wallet.restart, True),
    ]
