"""The interfaces that cross a process boundary, and the errors that may come back.

Callers hold one of these and cannot tell whether the object lives in their own
process or behind a Cap'n Proto connection: every method is async and takes and
returns plain Python values (int, str, bytes, dataclasses, lists of them), so
an in-process implementation and a remote proxy are interchangeable. Nothing
here knows about the wire.

Errors carry a stable ``code`` because a remote exception arrives as a generic
transport error; the wire layer sends the code and message and the caller gets
the same class back, never the remote traceback.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar


class SplitdError(Exception):
    """Base of every error that may cross a process boundary."""

    code: ClassVar[str] = "error"
    _by_code: ClassVar[dict[str, type[SplitdError]]] = {}

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        SplitdError._by_code[cls.code] = cls

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else ""

    @staticmethod
    def from_code(code: str, message: str) -> SplitdError:
        """Rebuild the error a peer raised; an unknown code degrades to the base class."""
        return SplitdError._by_code.get(code, SplitdError)(message)


class WorkerUnavailable(SplitdError):
    """The peer is gone (exited, killed, or its connection dropped)."""

    code = "unavailable"


class CallTimeout(SplitdError):
    """The peer did not answer within the call's deadline."""

    code = "timeout"


class InternalError(SplitdError):
    """The peer failed in a way it does not describe; details stay in its own log."""

    code = "internal"


class UnknownWorker(SplitdError):
    code = "unknown_worker"


class Init(ABC):
    """What every worker serves on its socket: the first capability handed out.

    Modelled on Bitcoin Core's init.capnp: a liveness probe, an orderly exit,
    and (later) factories for the worker's other interfaces.
    """

    @abstractmethod
    async def ping(self) -> None:
        """Answer as soon as the worker's event loop is free: the health check."""

    @abstractmethod
    async def shutdown(self) -> None:
        """Stop serving and exit cleanly once the reply is sent."""


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


@dataclass(frozen=True)
class SupervisorStatus:
    pid: int
    uptime_s: float
    version: str
    workers: list[WorkerStatus]


class Control(ABC):
    """What the supervisor serves on its control socket for the ``splitd`` CLI."""

    @abstractmethod
    async def status(self) -> SupervisorStatus: ...

    @abstractmethod
    async def stop(self) -> None:
        """Begin a graceful stop; the supervisor exits once its workers are gone."""

    @abstractmethod
    async def restart(self, worker: str) -> None:
        """Stop one worker and start a new generation of it; ``UnknownWorker`` if no such name."""
