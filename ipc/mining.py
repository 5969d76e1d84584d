"""Bitcoin Core's own IPC interfaces, as the node serves them on ``node.sock``: ``Mining`` and
``BlockTemplate`` (Core's src/interfaces/mining.h), ``Echo`` and ``Rpc``, and the factory
behind Core's ``Init`` (init.capnp's makeEcho, makeMining, makeRpc).

Plain Python values, as in ``ipc.interfaces``: bytes in Core's serializations (blocks and
transactions with their witnesses, hashes as 32 bytes in internal byte order), ints,
dataclasses. The wire (``ipc/capnp/core/*.capnp``, ``ipc.capnp.coreipc``) is Core's, not
ours, so these are not served by the generic adapter: ``coreipc`` has a server for each.

Unlike ``ipc.interfaces``, a method is async only where Core's call may wait (for a tip, a
fee rise, a cooldown, an RPC); the others answer at once. That is also what lets a refusal
reach a client in Core's words: a pycapnp server can fail a call with a message of its
choosing only before the call starts waiting, so ``create_new_block`` checks its options
before it returns the awaitable that waits.
"""

from __future__ import annotations

import sys
from abc import ABC, abstractmethod
from collections.abc import Awaitable
from dataclasses import dataclass, field

from ipc.errors import SplitdError

# mining.capnp's constants, which its defaults use.
MAX_MONEY = 2_100_000_000_000_000  # maxMoney: "no fee threshold"
MAX_DOUBLE = sys.float_info.max  # maxDouble: "no timeout"
DEFAULT_BLOCK_RESERVED_WEIGHT = 8000  # defaultBlockReservedWeight (policy.h)
DEFAULT_COINBASE_OUTPUT_MAX_ADDITIONAL_SIGOPS = 400
MINIMUM_BLOCK_RESERVED_WEIGHT = 2000  # policy.h; createNewBlock refuses less


class MiningError(SplitdError):
    """What Core's mining interface throws (a ``std::runtime_error``): its text is Core's,
    and a client reads it as ``std::exception: <text>``."""

    code = "mining"


@dataclass(frozen=True)
class BlockRef:
    """Core's ``interfaces::BlockRef``: a block's hash (internal byte order) and height."""

    hash: bytes
    height: int


@dataclass(frozen=True)
class BlockCreateOptions:
    """Core's ``node::BlockCreateOptions`` as IPC carries it (the coinbase script is not
    on the wire: a template pays an anyone-can-spend OP_TRUE, for the client to replace)."""

    use_mempool: bool = True
    block_reserved_weight: int = DEFAULT_BLOCK_RESERVED_WEIGHT
    coinbase_output_max_additional_sigops: int = DEFAULT_COINBASE_OUTPUT_MAX_ADDITIONAL_SIGOPS


@dataclass(frozen=True)
class BlockWaitOptions:
    """Core's ``node::BlockWaitOptions``: how long ``wait_next`` waits (milliseconds), and
    by how much the next block's fees must rise for a new template (``MAX_MONEY``: never)."""

    timeout_ms: float = MAX_DOUBLE
    fee_threshold: int = MAX_MONEY


@dataclass(frozen=True)
class BlockCheckOptions:
    """Core's ``node::BlockCheckOptions``: which of the header's checks ``check_block`` runs
    (a template built by other software has neither a merkle root nor proof of work yet)."""

    check_merkle_root: bool = True
    check_pow: bool = True


@dataclass(frozen=True)
class CoinbaseTx:
    """Core's ``node::CoinbaseTx``: what a client needs to build the coinbase itself."""

    version: int
    sequence: int
    script_sig_prefix: bytes  # BIP34's height push; the client may append up to 100 bytes
    witness: bytes | None  # the one witness item (the BIP141 reserved value), if any
    block_reward_remaining: int  # satoshis: subsidy plus the template's fees
    required_outputs: list[bytes] = field(default_factory=list)  # serialized outputs to keep
    lock_time: int = 0


@dataclass(frozen=True)
class BlockCheck:
    """``check_block``'s answer: Core's reject reason (BIP22) and debug message when invalid."""

    valid: bool
    reason: str = ""
    debug: str = ""


class Echo(ABC):
    """Core's ``interfaces::Echo``: a round trip to test a connection with."""

    @abstractmethod
    def echo(self, text: str) -> str: ...

    @abstractmethod
    def destroy(self) -> None:
        """The client is done with it."""


class Rpc(ABC):
    """Core's ``interfaces::Rpc``: the HTTP JSON-RPC server's processing, without HTTP
    (``bitcoin-cli -ipcconnect``)."""

    @abstractmethod
    async def execute_rpc(self, request: str, uri: str, user: str) -> str:
        """``request``: a JSON-RPC request or batch as JSON text, as an HTTP body carries it;
        ``uri``: the path it would be posted to (``/wallet/<name>`` reaches that wallet);
        ``user``: who asks. The reply as JSON text, ``null`` where HTTP would have no body
        (a notification)."""


class BlockTemplate(ABC):
    """Core's ``interfaces::BlockTemplate``: one block template and what a miner does with it."""

    @abstractmethod
    def get_block_header(self) -> bytes:
        """The 80-byte header (merkle root zero until a solution is submitted, as in Core)."""

    @abstractmethod
    def get_block(self) -> bytes:
        """The whole block; its coinbase pays OP_TRUE and is only a stand-in."""

    @abstractmethod
    def get_tx_fees(self) -> list[int]:
        """Each transaction's fee in satoshis, the coinbase not included."""

    @abstractmethod
    def get_tx_sigops(self) -> list[int]:
        """Each transaction's sigop cost, the coinbase not included."""

    @abstractmethod
    def get_coinbase_tx(self) -> CoinbaseTx: ...

    @abstractmethod
    def get_coinbase_merkle_path(self) -> list[bytes]:
        """The coinbase's merkle branch, deepest first (32-byte hashes, internal order)."""

    @abstractmethod
    def submit_solution(self, version: int, timestamp: int, nonce: int, coinbase: bytes) -> bool:
        """Rebuild the block with ``coinbase`` (complete, witness included: nothing is added
        to it) and these header fields, and submit it. The template keeps the block tried.
        ``MiningError`` for a coinbase that does not deserialize."""

    @abstractmethod
    async def wait_next(self, options: BlockWaitOptions) -> BlockTemplate | None:
        """A new template once the tip changes or the next block's fees rise by
        ``fee_threshold``; None at the timeout or after ``interrupt_wait``."""

    @abstractmethod
    def interrupt_wait(self) -> None:
        """End the current ``wait_next``; one that has not started yet ends as it starts."""

    @abstractmethod
    def destroy(self) -> None:
        """The client is done with the template: release it."""


class Mining(ABC):
    """Core's ``interfaces::Mining``, what a Stratum v2 template provider talks to."""

    @abstractmethod
    def is_test_chain(self) -> bool: ...

    @abstractmethod
    def is_initial_block_download(self) -> bool: ...

    @abstractmethod
    def get_tip(self) -> BlockRef | None: ...

    @abstractmethod
    async def wait_tip_changed(self, current_tip: bytes, timeout_ms: float) -> BlockRef | None:
        """The tip once it differs from ``current_tip``, or the tip as it is at the timeout;
        None after ``interrupt``."""

    @abstractmethod
    def create_new_block(
        self, options: BlockCreateOptions, cooldown: bool = True
    ) -> Awaitable[BlockTemplate | None]:
        """Check ``options`` now (``MiningError`` with Core's text), then return what
        builds the template: at once, or, with ``cooldown`` during initial block download,
        once that is over. It gives None after ``interrupt``."""

    @abstractmethod
    def check_block(self, block: bytes, options: BlockCheckOptions) -> BlockCheck:
        """Would ``block`` be valid on the tip (Core's TestBlockValidity)? ``MiningError``
        for bytes that are no block."""

    @abstractmethod
    def interrupt(self) -> None:
        """End the current ``wait_tip_changed`` or ``create_new_block`` wait; one that has
        not started yet ends as it starts."""


class CoreInit(ABC):
    """What Core's ``Init`` makes, one object per call: the node side of init.capnp."""

    @abstractmethod
    def make_echo(self) -> Echo: ...

    @abstractmethod
    def make_mining(self) -> Mining: ...

    @abstractmethod
    def make_rpc(self) -> Rpc: ...
