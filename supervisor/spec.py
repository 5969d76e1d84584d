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

    @property
    def module(self) -> str:
        return self.entry.partition(":")[0]


def worker_specs(settings: Settings) -> list[WorkerSpec]:
    """The node first, then its wallet, unless the wallet runs inside the node."""
    specs = [WorkerSpec("node", "node", "node.worker:make_init", settings.node.restart)]
    if settings.wallet.process == "separate":
        specs.append(
            WorkerSpec("wallet", "wallet", "wallet.worker:make_init", settings.wallet.restart)
        )
    return specs
