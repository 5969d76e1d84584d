"""Child specs: which workers a configuration asks for, as plain data, in start order."""

from __future__ import annotations

from dataclasses import dataclass

from config import Settings

DEFAULT_WALLET = "default"  # the name of the one wallet a wallet host serves
# The gateway's calls last as long as their method does (generatetoaddress 5000): bitcoin-cli's
# own -rpcclienttimeout default. A node or wallet that dies still fails them at once.
RPC_CALL_TIMEOUT_S = 900.0


@dataclass(frozen=True)
class WorkerSpec:
    name: str
    role: str
    entry: str  # "module:function" run in the child; the supervisor never imports it
    restart: str  # permanent | transient | temporary
    hosts_wallet: bool = False  # serves Init.make_wallet: the wallet worker, or a monolithic node
    # Serves Init.attach_rpc: given the node's and wallets' faces whenever they change (the
    # HTTP gateway; the node too, for the wallet requests of Core's IPC Rpc interface).
    takes_faces: bool = False
    lent_listener: bool = False  # lent the JSON-RPC port's listening socket: the HTTP gateway
    # The deadline of the calls it makes through the faces it is given; None: ipc.call_timeout_s.
    call_timeout_s: float | None = None

    @property
    def module(self) -> str:
        return self.entry.partition(":")[0]


def worker_specs(settings: Settings) -> list[WorkerSpec]:
    """The node first, then its wallet (or one node process that hosts the wallet too), then
    the JSON-RPC gateway in front of them; stopped in the reverse order."""
    gateway = WorkerSpec(
        "rpc",
        "rpc",
        "rpc.gateway:make_init",
        settings.rpc.restart,
        takes_faces=True,
        lent_listener=True,
        call_timeout_s=RPC_CALL_TIMEOUT_S,
    )
    if settings.wallet.process == "inprocess":
        return [
            WorkerSpec("node", "node", "init.monolithic:make_init", settings.node.restart, True),
            gateway,
        ]
    return [
        WorkerSpec("node", "node", "node.worker:make_init", settings.node.restart),
        WorkerSpec("wallet", "wallet", "wallet.worker:make_init", settings.wallet.restart, True),
        gateway,
    ]
