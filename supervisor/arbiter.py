"""The supervisor's loop: one queue of events, one handler per event.

gunicorn's arbiter, in asyncio: signal handlers, process sentinels, health
checks and the control socket only *enqueue* events; the loop takes them one
at a time and calls the handler named for each. Nothing polls: a worker's
death wakes the loop through its process sentinel within a millisecond or
two. Decisions (restart or not, how long to wait, when to give up) are the
pure functions of ``supervisor.policy``; this module only carries them out.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import signal
import time
from collections.abc import Callable, Coroutine
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import structlog

from config import Settings
from ipc.interfaces import (
    Init,
    RpcCode,
    RpcError,
    RpcStatus,
    SplitdError,
    SupervisorStatus,
    UnknownWorker,
    WorkerUnavailable,
)
from ipc.worker import Launch
from logs.structured import Record
from supervisor import logpipe, policy
from supervisor.events import (
    AllStopped,
    BackoffOver,
    Event,
    Exited,
    Hung,
    Loaded,
    Ready,
    RestartRequested,
    StopRequested,
)
from supervisor.health import watch
from supervisor.policy import Intent, State
from supervisor.rpcdoor import RpcDoor
from supervisor.spawn import preload, spawn
from supervisor.spec import CHAIN, stop_order, wallet_spec, worker_specs
from supervisor.stopping import stop_worker
from supervisor.wallets import WalletManager, startup_wallets
from supervisor.wiring import Wiring
from supervisor.worker import Worker, exit_info

EXIT_GAVE_UP = 3
LOAD_TIMEOUT_S = 60.0  # how long loadwallet/createwallet wait for the new wallet to be wired
log = structlog.get_logger()


def splitd_version() -> str:
    try:
        return version("splitd")
    except PackageNotFoundError:
        return "unknown"


class Arbiter:
    def __init__(
        self,
        settings: Settings,
        datadir: Path,
        sink: Callable[[Record], None],
        door: RpcDoor | None = None,
    ) -> None:
        self.settings = settings
        self.datadir = datadir
        self.sink = sink
        self.door = door  # the JSON-RPC port, lent to every gateway generation
        wallets = startup_wallets(datadir, settings.wallets)
        self.workers = {spec.name: Worker(spec) for spec in worker_specs(settings, wallets)}
        self.events: asyncio.Queue[Event] = asyncio.Queue()
        self.started_at = time.monotonic()
        self.stopping = False
        self.finished = False
        self.exit_code = 0
        self._jitter = random.Random()
        self._tasks: set[asyncio.Task[Any]] = set()
        self.manager = WalletManager(datadir, self.loaded_wallets, self.load_wallet, self.unload)
        self.wiring = Wiring(
            lambda: list(self.workers.values()),
            self.init_of,
            self.spawn_task,
            self._log,
            self.manager,
        )
        self.manager.face = self.wiring.wallet  # createwallet passphrase=... encrypts through it
        modules = {worker.spec.module for worker in self.workers.values()}
        preload([*modules, wallet_spec(settings, "x").module])  # wallets created later too

    # -- the loop ---------------------------------------------------------------------------

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(
                signum, self.events.put_nowait, StopRequested(f"signal {signum.name}")
            )
        log.info(
            "supervisor_started",
            datadir=str(self.datadir),
            version=splitd_version(),
            rpc=self.door and self.door.url,
        )
        for worker in self.workers.values():
            self.start(worker)
        while not self.finished:
            event = await self.events.get()
            try:
                await self.dispatch(event)
            except Exception:
                # A bug in one handler must not leave workers unsupervised.
                log.exception("supervisor_handler_failed", event=type(event).__name__)
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
        for task in self._tasks:
            task.cancel()
        self.kill_stragglers()
        if any(worker.state is State.FAILED for worker in self.workers.values()):
            self.exit_code = EXIT_GAVE_UP
        log.info("supervisor_stopped", exit_code=self.exit_code)
        return self.exit_code

    async def dispatch(self, event: Event) -> None:
        match event:
            case Exited():
                await self.handle_exited(event)
            case Ready():
                self.handle_ready(event)
            case Loaded():
                self.handle_loaded(event)
            case Hung():
                self.handle_hung(event)
            case BackoffOver():
                self.handle_backoff_over(event)
            case StopRequested():
                self.handle_stop_requested(event)
            case RestartRequested():
                self.handle_restart_requested(event)
            case AllStopped():
                self.finished = True

    # -- what the control socket asks -------------------------------------------------------

    def status(self) -> SupervisorStatus:
        now = time.monotonic()
        return SupervisorStatus(
            pid=os.getpid(),
            uptime_s=now - self.started_at,
            version=splitd_version(),
            workers=[worker.status(now) for worker in self.workers.values()],
            rpc=None if self.door is None else RpcStatus(self.door.url),
        )

    def init_of(self, name: str) -> Init:
        """The running worker's ``Init``; ``WorkerUnavailable`` while it is not running."""
        worker = self.workers.get(name)
        if worker is None:
            raise UnknownWorker(f"no worker {name!r}; workers: {', '.join(self.workers)}")
        if worker.state is not State.RUNNING or worker.connection is None:
            raise WorkerUnavailable(f"the {name} is not running ({worker.state}); retry")
        return worker.connection.remote

    def loaded_wallets(self) -> list[str]:
        return [w.spec.wallet for w in self.workers.values() if w.spec.wallet is not None]

    async def load_wallet(self, name: str) -> None:
        """Start a worker for wallet ``name`` and return once it is wired to the node; if it
        cannot start (its file refused, say), it is stopped and removed, and that is said."""
        if self.stopping:
            raise WorkerUnavailable("the supervisor is stopping")
        chain = self.wiring.provider(CHAIN)
        if chain is not None and chain.spec.wallet is not None:
            raise RpcError(
                RpcCode.WALLET_ERROR,
                'splitd runs its one wallet inside the node (wallet.process = "inprocess");'
                ' run with wallet.process = "separate" to load more',
            )
        if chain is None or chain.state is not State.RUNNING:
            raise WorkerUnavailable("the node is not running; retry once it is")
        worker = Worker(wallet_spec(self.settings, name))
        if worker.name in self.workers:  # a second load of it while the first is under way
            raise RpcError(RpcCode.WALLET_ALREADY_LOADED, f'Wallet "{name}" is already loaded.')
        self.workers[worker.name] = worker
        self.start(worker)
        assert worker.exited is not None
        wired = asyncio.ensure_future(worker.wired.wait())
        done, _ = await asyncio.wait(
            {wired, worker.exited}, timeout=LOAD_TIMEOUT_S, return_when=asyncio.FIRST_COMPLETED
        )
        wired.cancel()
        if worker.wallet is not None:
            await self.wiring.attach_now()
            return
        await self.remove(worker)
        how = "did not answer in time" if not done else "exited"
        raise RpcError(
            RpcCode.WALLET_ERROR,
            f"Wallet loading failed: its worker {how}; splitd logs {worker.name} says why",
        )

    async def unload(self, name: str) -> None:
        """Stop wallet ``name``'s worker for good and forget it; the others are told."""
        worker = next((w for w in self.workers.values() if w.spec.wallet == name), None)
        if worker is None:
            raise RpcError(
                RpcCode.WALLET_NOT_FOUND, "Requested wallet does not exist or is not loaded"
            )
        await self.remove(worker)

    async def remove(self, worker: Worker) -> None:
        await self.stop_worker(worker, Intent.STOP, graceful=True)
        if worker.backoff is not None:
            worker.backoff.cancel()
        if self.workers.get(worker.name) is worker:
            del self.workers[worker.name]
        self._log(worker).info("wallet_unloaded", wallet=worker.spec.wallet)
        await self.wiring.attach_now()

    def request_stop(self, reason: str) -> None:
        self.events.put_nowait(StopRequested(reason))

    async def request_restart(self, name: str) -> None:
        done = asyncio.get_running_loop().create_future()
        self.events.put_nowait(RestartRequested(name, done))
        await done

    # -- handlers ---------------------------------------------------------------------------

    async def handle_exited(self, event: Exited) -> None:
        worker = self.workers.get(event.name)
        if worker is None:
            return  # an unloaded wallet's: it is gone with all it had
        if worker.generation != event.generation or worker.exited is None:
            return
        exited, info = worker.exited, event.info
        # The worker's last words come before the record of its death.
        if worker.output:
            await asyncio.wait(worker.output, timeout=1.0)
        now = time.monotonic()
        uptime_s = now - worker.started_at
        failed = worker.intent is None
        logger = self._log(worker)
        logger.log(
            logging.WARNING if failed else logging.INFO,
            "worker_exited",
            exit_code=info.code,
            signal=info.signal,
            uptime_s=round(uptime_s, 3),
        )
        self.reap(worker)
        worker.last_exit = info
        if failed:
            worker.failures = policy.failures_in_a_row(
                worker.failures, uptime_s, self.settings.restart.reset_after_s
            )
        worker.restart_times = policy.recent(
            worker.restart_times, now, self.settings.restart.within_s
        )
        decision = policy.after_exit(
            worker.intent,
            worker.spec.restart,
            info.code,
            restarts=worker.restart_times,
            failures=worker.failures,
            now=now,
            limits=self.settings.restart,
            jitter=self._jitter.random(),
        )
        self.carry_out(worker, decision, logger, counted=failed, now=now)
        exited.set_result(info)

    def handle_ready(self, event: Ready) -> None:
        worker = self.workers.get(event.name)
        if worker is None:
            return  # an unloaded wallet's: it is gone with all it had
        if worker.generation == event.generation and worker.state is State.STARTING:
            worker.enter(State.RUNNING)
            self._log(worker).info("worker_running")

    def handle_loaded(self, event: Loaded) -> None:
        worker = self.workers.get(event.name)
        if worker is None:
            return  # an unloaded wallet's: it is gone with all it had
        if worker.generation == event.generation and worker.state is State.RUNNING:
            worker.loaded = True
            self._log(worker).info("worker_loaded")
            self.wiring.on_loaded(worker)

    def handle_hung(self, event: Hung) -> None:
        worker = self.workers.get(event.name)
        if worker is None:
            return  # an unloaded wallet's: it is gone with all it had
        if self.stopping:
            return  # the stop in progress ends it anyway, in its turn
        if worker.generation != event.generation or worker.state not in (
            State.STARTING,
            State.RUNNING,
        ):
            return
        self._log(worker).error("worker_hung", misses=self.settings.health.misses)
        self.spawn_task(self.stop_worker(worker, intent=None, graceful=False))

    def handle_backoff_over(self, event: BackoffOver) -> None:
        worker = self.workers.get(event.name)
        if worker is None:
            return  # an unloaded wallet's: it is gone with all it had
        if worker.generation == event.generation and worker.state is State.BACKOFF:
            worker.backoff = None
            if self.stopping:
                worker.enter(State.STOPPED)
            else:
                self.start(worker)

    def handle_stop_requested(self, event: StopRequested) -> None:
        if self.stopping:
            log.info("supervisor_already_stopping", reason=event.reason)
            return
        self.stopping = True
        self.exit_code = event.exit_code
        log.info("supervisor_stopping", reason=event.reason)
        for worker in self.workers.values():
            worker.intent = Intent.STOP
        self.spawn_task(self.stop_all())

    def handle_restart_requested(self, event: RestartRequested) -> None:
        worker = self.workers.get(event.name)
        if event.done.done():
            return  # the asker has gone
        if worker is None:
            known = ", ".join(self.workers)
            event.done.set_exception(UnknownWorker(f"no worker {event.name!r}; workers: {known}"))
        elif self.stopping:
            event.done.set_exception(SplitdError("the supervisor is stopping"))
        else:
            # Answer once it is under way: a hung worker's stop takes up to 3 * stop_timeout_s.
            self._log(worker).info("worker_restart_requested")
            self.spawn_task(self.restart(worker))
            event.done.set_result(None)

    # -- steps ------------------------------------------------------------------------------

    def start(self, worker: Worker) -> None:
        worker.enter(State.STARTING)
        worker.generation += 1
        worker.intent = None
        loop = asyncio.get_running_loop()
        spawned = spawn(
            Launch(
                entry=worker.spec.entry,
                name=worker.name,
                role=worker.spec.role,
                generation=worker.generation,
                datadir=self.datadir,
                log_level=self.settings.log.level,
                call_timeout_s=worker.spec.call_timeout_s or self.settings.ipc.call_timeout_s,
                settings=self.settings,
                listener=self.door.sock if worker.spec.lent_listener and self.door else None,
                wallet=worker.spec.wallet,
            )
        )
        worker.spawned = spawned
        worker.started_at = time.monotonic()
        worker.loaded = False
        worker.exited = loop.create_future()
        loop.add_reader(spawned.process.sentinel, self.on_sentinel, worker, worker.generation)
        identity = self._identity(worker)
        worker.output = {
            loop.create_task(logpipe.pump(fd, stream, identity, self.sink))
            for fd, stream in ((spawned.stdout, "stdout"), (spawned.stderr, "stderr"))
        }
        worker.tasks = {
            loop.create_task(
                watch(
                    worker,
                    worker.generation,
                    self.settings,
                    self.events.put_nowait,
                    self._log(worker),
                )
            )
        }
        self._log(worker).info("worker_started")

    def on_sentinel(self, worker: Worker, generation: int) -> None:
        """The process is gone: note how, and let the loop decide what follows."""
        assert worker.spawned is not None
        process = worker.spawned.process
        asyncio.get_running_loop().remove_reader(process.sentinel)
        try:
            process.join(0)
            info = exit_info(process.exitcode)
        except Exception:
            log.exception("exit_status_unreadable", worker=worker.name)
            info = exit_info(None)
        self.events.put_nowait(Exited(worker.name, generation, info))

    def reap(self, worker: Worker) -> None:
        """Release everything the dead process's generation held."""
        for task in worker.tasks | worker.output:
            task.cancel()
        if worker.connection is not None:
            worker.connection.close()
        if worker.spawned is not None:
            worker.spawned.close()
        worker.spawned = worker.connection = worker.wallet = None
        worker.wired.clear()
        worker.linked.clear()
        worker.tasks, worker.output = set(), set()

    def carry_out(
        self, worker: Worker, decision: policy.Decision, logger: Any, *, counted: bool, now: float
    ) -> None:
        """Apply ``decision``; ``logger`` still names the process that ended."""
        if self.stopping and decision.state is not State.FAILED:
            decision = policy.Decision(State.STOPPED)
        if decision.state is State.FAILED:
            worker.enter(State.FAILED)
            logger.error(
                "worker_failed",
                max_restarts=self.settings.restart.max_restarts,
                within_s=self.settings.restart.within_s,
            )
            if worker.spec.critical:
                self.events.put_nowait(StopRequested(f"the {worker.name} failed", EXIT_GAVE_UP))
            return
        if decision.state is State.STOPPED:
            worker.enter(State.STOPPED)
            return
        worker.restarts += 1
        if counted:
            worker.restart_times.append(now)
        logger.info("worker_restarting", delay_s=round(decision.delay_s, 3))
        if decision.state is State.BACKOFF:
            worker.enter(State.BACKOFF)
            worker.backoff = asyncio.get_running_loop().call_later(
                decision.delay_s,
                self.events.put_nowait,
                BackoffOver(worker.name, worker.generation),
            )
        else:
            self.start(worker)

    async def stop_worker(self, worker: Worker, intent: Intent | None, graceful: bool) -> None:
        await stop_worker(
            worker, intent, graceful, self.settings.supervisor.stop_timeout_s, self._log(worker)
        )

    async def stop_all(self) -> None:
        """Dependents first (the gateway, the wallets, then the node they depend on)."""
        try:
            order = stop_order(worker.spec for worker in self.workers.values())
            by_spec = {worker.spec: worker for worker in self.workers.values()}
            for worker in (by_spec[spec] for spec in order):
                try:
                    await self.stop_worker(worker, Intent.STOP, graceful=True)
                except Exception:
                    log.exception("worker_stop_failed", worker=worker.name)
        finally:
            self.events.put_nowait(AllStopped())

    async def restart(self, worker: Worker) -> None:
        if worker.alive:
            await self.stop_worker(worker, Intent.RESTART, graceful=True)
            return
        if worker.backoff is not None:
            worker.backoff.cancel()
            worker.backoff = None
        # An operator's restart of a failed or stopped worker starts a fresh streak.
        worker.failures = 0
        worker.restart_times.clear()
        worker.restarts += 1
        self.start(worker)

    # -- helpers ----------------------------------------------------------------------------

    def spawn_task(self, work: Coroutine[Any, Any, None]) -> None:
        """Run ``work`` beside the loop; should it fail, the failure is logged."""
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)

        def finished(task: asyncio.Task[None]) -> None:
            self._tasks.discard(task)
            if not task.cancelled() and task.exception() is not None:
                log.error("supervisor_task_failed", exc_info=task.exception())

        task.add_done_callback(finished)

    def kill_stragglers(self) -> None:
        """The last resort on the way out: no worker may outlive the supervisor."""
        for worker in self.workers.values():
            if worker.alive:
                self._log(worker).error("worker_abandoned")
                worker.send(signal.SIGKILL)

    def _identity(self, worker: Worker) -> dict[str, Any]:
        return {
            "worker": worker.name,
            "role": worker.spec.role,
            "pid": worker.pid,
            "gen": worker.generation,
        }

    def _log(self, worker: Worker) -> Any:
        """Records about a worker carry its identity, so ``splitd logs NAME`` shows them."""
        return log.bind(**self._identity(worker), by="supervisor")
