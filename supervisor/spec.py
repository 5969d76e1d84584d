"""Child specs: which workers a configuration asks for, as plain data.

A worker is described by what it provides and needs (the node provides the ``Chain``
wallets need and the ``Node`` face; a wallet provides a ``Wallet``; the JSON-RPC gateway
takes every face), whether its failure stops splitd, and how it is started. The
supervisor wires, attaches and stops by this data alone: no role or worker name is
written into its loop.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from config import Settings

CHAIN, NODE, WALLET = "chain", "node", "wallet"  # what workers provide and need
DEFAULT_WALLET = "default"
# The gateway's calls last as long as their method does (generatetoaddress 5000): bitcoin-cli's
# own -rpcclienttimeout default. A node or wallet that dies still fails them at once.
RPC_CALL_TIMEOUT_S = 900.0


@dataclass(frozen=True)
class WorkerSpec:
    name: str
    role: str
    entry: str  # "module:function" run in the child; the supervisor never imports it
    restart: str  # permanent | transient | temporary
    provides: frozenset[str] = frozenset()
    needs: frozenset[str] = frozenset()
    critical: bool = False  # its failure for good stops splitd (exit 3)
    wallet: str | None = None  # the wallet it hosts, by name (it serves Init.make_wallet)
    # Serves Init.attach_rpc: given the node's and wallets' faces whenever they change (the
    # HTTP gateway; the node too, for the wallet requests of Core's IPC Rpc interface).
    takes_faces: bool = False
    lent_listener: bool = False  # lent the JSON-RPC port's listening socket: the HTTP gateway
    # The deadline of the calls it makes through the faces it is given; None: ipc.call_timeout_s.
    call_timeout_s: float | None = None

    @property
    def module(self) -> str:
        return self.entry.partition(":")[0]


def worker_name(wallet: str) -> str:
    """The worker of a wallet: ``wallet`` for the default one, ``wallet-NAME`` for others."""
    return "wallet" if wallet == DEFAULT_WALLET else f"wallet-{wallet}"


def node_spec(settings: Settings) -> WorkerSpec:
    if settings.wallet.process == "inprocess":  # one process, as Core's bitcoind
        return WorkerSpec(
            "node",
            "node",
            "init.monolithic:make_init",
            settings.node.restart,
            provides=frozenset({CHAIN, NODE, WALLET}),
            needs=frozenset({CHAIN}),
            critical=True,
            wallet=DEFAULT_WALLET,
            takes_faces=True,  # Core's IPC Rpc on node.sock reaches the wallets too
        )
    return WorkerSpec(
        "node",
        "node",
        "node.worker:make_init",
        settings.node.restart,
        provides=frozenset({CHAIN, NODE}),
        critical=True,
        takes_faces=True,  # Core's IPC Rpc on node.sock reaches the wallets too
    )


def wallet_spec(settings: Settings, wallet: str) -> WorkerSpec:
    return WorkerSpec(
        worker_name(wallet),
        "wallet",
        "wallet.worker:make_init",
        settings.wallet.restart,
        provides=frozenset({WALLET}),
        needs=frozenset({CHAIN}),
        wallet=wallet,
    )


def gateway_spec(settings: Settings) -> WorkerSpec:
    return WorkerSpec(
        "rpc",
        "rpc",
        "rpc.gateway:make_init",
        settings.rpc.restart,
        needs=frozenset({NODE, WALLET}),
        takes_faces=True,
        lent_listener=True,
        call_timeout_s=RPC_CALL_TIMEOUT_S,
    )


def worker_specs(
    settings: Settings, wallets: Iterable[str] = (DEFAULT_WALLET,)
) -> list[WorkerSpec]:
    """The node, its wallets (each its own worker; none apart in monolithic mode), the
    JSON-RPC gateway: the order they start in."""
    node = node_spec(settings)
    hosted = [] if node.wallet is not None else [wallet_spec(settings, name) for name in wallets]
    return [node, *hosted, gateway_spec(settings)]


def stop_order(specs: Iterable[WorkerSpec]) -> list[WorkerSpec]:
    """Dependents first: whoever needs what another provides stops before it (the gateway,
    then the wallets, then the node); among equals, the reverse of start order."""
    remaining = list(specs)[::-1]
    order: list[WorkerSpec] = []
    while remaining:
        for spec in remaining:
            needed_by = [
                other
                for other in remaining
                if other is not spec and other.needs & (spec.provides - spec.needs)
            ]
            if not needed_by:  # nobody left depends on it
                order.append(spec)
                remaining.remove(spec)
                break
        else:  # a cycle: stop what is left as it stands
            order.extend(remaining)
            break
    return order
