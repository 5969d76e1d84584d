"""One supervised worker: its spec, and the facts about its current and past processes."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from dataclasses import dataclass, field
from datetime import UTC, datetime

from ipc.capnp.protocol import Connection
from ipc.interfaces import ExitInfo, Init, Wallet, WorkerStatus
from supervisor.policy import TRANSITIONS, Intent, State
from supervisor.spawn import Spawned
from supervisor.spec import WorkerSpec


def signal_name(number: int) -> str:
    """``SIGKILL`` for 9; real-time signals, which have no name of their own, as ``SIGRTMIN+N``."""
    try:
        return signal.Signals(number).name
    except ValueError:
        offset = number - signal.SIGRTMIN
        return f"SIGRTMIN+{offset}" if offset > 0 else f"SIG{number}"


def exit_info(exitcode: int | None) -> ExitInfo:
    """multiprocessing reports death by signal N as exit code -N."""
    at = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    if exitcode is not None and exitcode < 0:
        return ExitInfo(at=at, signal=signal_name(-exitcode))
    return ExitInfo(at=at, code=exitcode)


@dataclass
class Worker:
    spec: WorkerSpec
    state: State = State.STOPPED
    generation: int = 0
    restarts: int = 0
    failures: int = 0  # in a row; see policy.failures_in_a_row
    restart_times: list[float] = field(default_factory=list)  # monotonic; the intensity window
    last_exit: ExitInfo | None = None
    intent: Intent | None = None
    spawned: Spawned | None = None
    connection: Connection[Init] | None = None
    wallet: Wallet | None = None  # what this worker's Init.make_wallet gave, once wired
    wired: asyncio.Event = field(default_factory=asyncio.Event)  # set while ``wallet`` is
    # The direct links this generation was given (``ipc.links``): provider name -> link name.
    linked: dict[str, str] = field(default_factory=dict)
    started_at: float = 0.0  # monotonic
    loaded: bool = False  # this generation has opened what it serves (``worker_loaded``)
    # Resolved once the loop has handled this generation's exit (logged, reaped, decided).
    exited: asyncio.Future[ExitInfo] | None = None
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    output: set[asyncio.Task[None]] = field(default_factory=set)  # the pipe readers
    backoff: asyncio.TimerHandle | None = None

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def pid(self) -> int | None:
        return self.spawned.process.pid if self.spawned else None

    def send(self, signum: signal.Signals) -> None:
        """Signal this generation's process, never a stranger that reused its pid."""
        if self.spawned is not None:
            with contextlib.suppress(ProcessLookupError):
                signal.pidfd_send_signal(self.spawned.pidfd, signum)

    @property
    def alive(self) -> bool:
        return self.spawned is not None

    @property
    def serving(self) -> bool:
        """Running and loaded: what it serves can be handed out and wired."""
        return self.state is State.RUNNING and self.loaded

    def enter(self, state: State) -> None:
        if state not in TRANSITIONS[self.state]:
            raise RuntimeError(f"{self.name}: {self.state} -> {state} is not a transition")
        self.state = state

    def uptime_s(self, now: float) -> float | None:
        return now - self.started_at if self.alive else None

    def status(self, now: float) -> WorkerStatus:
        return WorkerStatus(
            name=self.name,
            role=self.spec.role,
            state=str(self.state),
            pid=self.pid,
            generation=self.generation,
            restarts=self.restarts,
            uptime_s=self.uptime_s(now),
            last_exit=self.last_exit,
            loaded=self.state is State.RUNNING and self.loaded,
        )
