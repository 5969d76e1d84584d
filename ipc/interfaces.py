"""The interfaces that cross a process boundary, and the errors that may come back.

Callers hold one of these and cannot tell whether the object lives in their own
process or behind a Cap'n Proto connection: every method is async and takes and
returns plain Python values (int, str, bytes, dataclasses, lists of them), so
an in-process implementation and a remote proxy are interchangeable. Nothing
here knows about the wire.

Each interface names its ``peer`` ("the node") for messages a user may read:
a method name such as ``Chain.relay_min_fee`` is ours, not theirs.

The errors are in ``ipc.errors``; they are importable from here too, since what a
method may raise is part of its interface.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

from ipc.errors import (
    BlockNotFound,
    CallTimeout,
    InsufficientFunds,
    InternalError,
    InvalidAddress,
    InvalidParameter,
    RequestTooLarge,
    RpcCode,
    RpcError,
    SplitdError,
    StartFailure,
    StorageError,
    TxNotFound,
    TxRejected,
    UnknownMethod,
    UnknownWorker,
    Unsupported,
    WorkerUnavailable,
)

__all__ = [
    "BlockNotFound",
    "BlockRef",
    "CallTimeout",
    "Chain",
    "ChainNotifications",
    "ConnectedBlock",
    "Control",
    "ExitInfo",
    "Handler",
    "Init",
    "InsufficientFunds",
    "InternalError",
    "InvalidAddress",
    "InvalidParameter",
    "Node",
    "RequestTooLarge",
    "RpcCode",
    "RpcError",
    "RpcStatus",
    "SplitdError",
    "StartFailure",
    "StorageError",
    "SupervisorStatus",
    "TxNotFound",
    "TxRejected",
    "UnknownMethod",
    "UnknownWorker",
    "Unsupported",
    "Wallet",
    "WalletFace",
    "WorkerStatus",
    "WorkerUnavailable",
]


class Init(ABC):
    """What every worker serves on its socket: the first capability handed out.

    Modelled on Bitcoin Core's init.capnp: a liveness probe, an orderly exit,
    and (later) factories for the worker's other interfaces.
    """

    peer: ClassVar[str] = "the worker"  # who serves it, as a user-facing message names it

    @abstractmethod
    async def ping(self) -> None:
        """Answer as soon as the worker's event loop is free: the health check."""

    @abstractmethod
    async def wait_loaded(self) -> None:
        """Return once the worker has opened what it serves (its chain state, its wallet
        file). A worker answers ``ping`` before that: it serves first and loads after, so
        a restart is noticed as done as soon as the process runs, and calls that need what
        it opens wait for it instead of the whole worker being unreachable."""

    @abstractmethod
    async def shutdown(self) -> None:
        """Stop serving and exit cleanly once the reply is sent."""

    @abstractmethod
    async def make_node(self) -> Node:
        """The node's RPC face; ``Unsupported`` from a worker that is no node."""

    @abstractmethod
    async def make_chain(self) -> Chain:
        """What a wallet needs of the node; ``Unsupported`` from a worker that is no node."""

    @abstractmethod
    async def make_wallet(self, chain_link: str) -> Wallet:
        """The wallet, bound to the node's ``Chain``, which it asks of the node over the
        direct link ``chain_link`` names (``ipc.links``; "" for a wallet in the node's own
        process). Called again with a new link after a node restart: the same wallet
        re-subscribes and catches up."""

    @abstractmethod
    async def attach_rpc(
        self, node_link: str, wallets: list[WalletFace], manager: Wallet | None
    ) -> None:
        """The faces a JSON-RPC server serves, as they are now: called again whenever it, the
        node or a wallet comes (back). ``node_link`` names the direct link to the node
        (``ipc.links``) to reach it through, kept for as long as it is named; "" while the
        node is not serving (or to the node itself, which is its own). ``manager`` is the
        supervisor's, for Core's wallet-loading methods (createwallet, loadwallet,
        unloadwallet, listwallets, listwalletdir), which need no wallet to run.
        ``Unsupported`` from a worker that serves no JSON-RPC."""


@dataclass(frozen=True)
class ExitInfo:
    """How a worker process last ended: an exit code or a signal, never both."""

    at: str
    code: int | None = None
    signal: str | None = None


@dataclass(frozen=True)
class WorkerStatus:
    name: str
    role: str
    state: str
    pid: int | None
    generation: int
    restarts: int
    uptime_s: float | None
    last_exit: ExitInfo | None
    loaded: bool = False  # running, and done opening what it serves (``worker_loaded``)


@dataclass(frozen=True)
class RpcStatus:
    """Where the HTTP JSON-RPC server listens."""

    url: str  # http://127.0.0.1:18443


@dataclass(frozen=True)
class SupervisorStatus:
    pid: int
    uptime_s: float
    version: str
    workers: list[WorkerStatus]
    rpc: RpcStatus | None = None


class Control(ABC):
    """What the supervisor serves on its control socket for the ``splitd`` CLI."""

    peer: ClassVar[str] = "the supervisor"
    lost: ClassVar[str] = "the supervisor stopped during the call"  # it is nobody's to restart

    @abstractmethod
    async def status(self) -> SupervisorStatus: ...

    @abstractmethod
    async def stop(self) -> None:
        """Begin a graceful stop; the supervisor exits once its workers are gone."""

    @abstractmethod
    async def restart(self, worker: str) -> None:
        """Stop one worker and start a new generation of it; ``UnknownWorker`` if no such name."""

    @abstractmethod
    async def node(self) -> Node:
        """The running node, for ``splitd node``; ``WorkerUnavailable`` while it is down."""

    @abstractmethod
    async def wallet(self, name: str) -> Wallet:
        """A loaded wallet by name ("": the only one), for ``splitd wallet``."""

    @abstractmethod
    async def wallet_manager(self) -> Wallet:
        """Core's wallet-loading methods (createwallet, loadwallet, unloadwallet,
        listwallets, listwalletdir), which the supervisor serves: for ``splitd wallet``."""


@dataclass(frozen=True)
class BlockRef:
    height: int
    hash: str  # hex, as Bitcoin Core prints it


@dataclass(frozen=True)
class ConnectedBlock:
    """A block as the wallet sees it: where it sits, and its serialization to scan."""

    height: int
    hash: str
    prev_hash: str
    time: int
    raw: bytes


class Handler(ABC):
    """A subscription; ``disconnect`` ends it. Dropping the last reference does too."""

    peer: ClassVar[str] = "the node"

    @abstractmethod
    async def disconnect(self) -> None: ...


class ChainNotifications(ABC):
    """What the node tells a subscribed wallet, in chain order, each event once.

    Modelled on Bitcoin Core's ``interfaces::Chain::Notifications``.
    """

    peer: ClassVar[str] = "the wallet"

    @abstractmethod
    async def block_connected(self, block: ConnectedBlock) -> None: ...

    @abstractmethod
    async def block_disconnected(self, block: ConnectedBlock) -> None: ...

    @abstractmethod
    async def transaction_added_to_mempool(self, tx: bytes) -> None: ...

    @abstractmethod
    async def transaction_removed_from_mempool(self, txid: str, reason: str) -> None: ...

    @abstractmethod
    async def chain_state_flushed(self, tip: BlockRef) -> None: ...


class Chain(ABC):
    """What a wallet needs from a node, and no more (Bitcoin Core's ``interfaces::Chain``)."""

    peer: ClassVar[str] = "the node"

    @abstractmethod
    async def tip(self) -> BlockRef: ...

    @abstractmethod
    async def block_hash(self, height: int) -> str:
        """The active chain's block at ``height``; ``BlockNotFound`` above the tip."""

    @abstractmethod
    async def block(self, hash: str) -> ConnectedBlock:
        """Any known block by hash; ``BlockNotFound`` if the node has none."""

    @abstractmethod
    async def find_fork(self, locator: list[str]) -> BlockRef:
        """The first of ``locator`` (newest first) on the active chain: where to rescan from."""

    @abstractmethod
    async def mempool_transactions(self) -> list[bytes]:
        """Every mempool transaction, parents before children: Core's
        ``requestMempoolTransactions``, so a wallet that was away learns what the node holds."""

    @abstractmethod
    async def broadcast_transaction(self, tx: bytes) -> str:
        """Submit to the mempool and return the txid; ``TxRejected(reason)`` if refused."""

    @abstractmethod
    async def relay_min_fee(self) -> int:
        """The node's minimum relay fee rate, in satoshis per 1000 virtual bytes."""

    @abstractmethod
    async def handle_notifications(self, notifications: ChainNotifications) -> Handler: ...


class Node(ABC):
    """The node's face to users: Bitcoin Core's ``interfaces::Node::executeRpc``.

    One method rather than one per RPC: the methods and result shapes are
    Bitcoin Core's, and JSON is what they are defined in.
    """

    peer: ClassVar[str] = "the node"

    @abstractmethod
    async def execute_rpc(self, method: str, params: str) -> str:
        """Run ``method`` with ``params``, JSON text (an array, or an object of named
        parameters, as in a JSON-RPC request); the result as JSON text.

        What fails raises a ``SplitdError`` whose ``rpc_code`` is Core's for it
        (``RpcError`` for a method's own, ``UnknownMethod``, ``TxRejected``...).
        """

    @abstractmethod
    async def list_rpc_commands(self) -> list[str]:
        """Every method ``execute_rpc`` serves (Core's ``interfaces::Node::listRpcCommands``)."""


class Wallet(ABC):
    """The wallet's face to users; like ``Node``, Bitcoin Core's method names and shapes."""

    peer: ClassVar[str] = "the wallet"

    @abstractmethod
    async def execute_rpc(self, method: str, params: str) -> str:
        """As ``Node.execute_rpc``, for the wallet's methods."""

    @abstractmethod
    async def list_rpc_commands(self) -> list[str]:
        """Every method ``execute_rpc`` serves: which calls are the wallet's, unexecuted."""


@dataclass(frozen=True)
class WalletFace:
    """A wallet as the gateway knows it: its name (``/wallet/<name>``), and the wallet as
    last wired to the node, or ``None`` while it is not (restarting, or not yet wired)."""

    name: str
    wallet: Wallet | None
