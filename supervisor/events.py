"""What the supervisor's loop reacts to: one small record per kind of event.

Signal handlers, process sentinels, health checks and the control socket only put these
on the loop's queue; ``Arbiter.dispatch`` calls the handler named for each.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from ipc.interfaces import ExitInfo


@dataclass(frozen=True)
class Exited:
    name: str
    generation: int
    info: ExitInfo


@dataclass(frozen=True)
class Ready:
    name: str
    generation: int


@dataclass(frozen=True)
class Loaded:
    name: str
    generation: int


@dataclass(frozen=True)
class Hung:
    name: str
    generation: int


@dataclass(frozen=True)
class BackoffOver:
    name: str
    generation: int


@dataclass(frozen=True)
class StopRequested:
    reason: str
    exit_code: int = 0


@dataclass(frozen=True)
class RestartRequested:
    name: str
    done: asyncio.Future[None]


@dataclass(frozen=True)
class AllStopped:
    pass


Event = Exited | Ready | Loaded | Hung | BackoffOver | StopRequested | RestartRequested | AllStopped
