"""The ``splitd`` command: what a user types (docs/guide.md has every command).

Printing and failing are ``supervisor.output``'s, reaching a running supervisor is
``supervisor.session``'s, and ``splitd node``/``splitd wallet`` are
``supervisor.rpccli``'s; here are the other commands and the parser.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import structlog

from config import ConfigError, Settings, effective_config, load_settings
from ipc.capnp import protocol
from ipc.interfaces import (
    Control,
    SupervisorStatus,
    WorkerStatus,
)
from logs.sink import RotatingJsonl, Sink
from logs.structured import configure
from supervisor import logview, minecli, rpccli
from supervisor.arbiter import Arbiter, splitd_version
from supervisor.control import listen, socket_path
from supervisor.datadir import (
    PRIVATE_UMASK,
    AlreadyRunning,
    UnusableDatadir,
    describe,
    exclusive,
    make_private,
)
from supervisor.output import (
    EXIT_FAILURE,
    EXIT_OK,
    EXIT_USAGE,
    Failure,
    emit,
    flush_stdout,
    release_stdout,
)
from supervisor.rpcdoor import CannotListen, RpcDoor, open_door
from supervisor.session import ask, datadir_of

STOP_DEADLINE_S = 300.0  # the supervisor's own stop is bounded by SIGKILL; this is a backstop


def settings_of(args: argparse.Namespace) -> Settings:
    try:
        return load_settings(
            datadir=datadir_of(args),
            config_file=getattr(args, "config", None),
            environ=os.environ,
            overrides=getattr(args, "set", None) or [],
        )
    except ConfigError as error:
        raise Failure(str(error), EXIT_USAGE) from None
    except OSError as error:  # the datadir itself cannot be looked into
        raise Failure(f"config: {describe(error)}", EXIT_USAGE) from None


# -- run ------------------------------------------------------------------------------------


def cmd_run(args: argparse.Namespace) -> int:
    # First, before anything is created or the forkserver starts: it and every worker inherit
    # the umask, so all that splitd creates is private whatever umask it was started with.
    os.umask(PRIVATE_UMASK)
    settings = settings_of(args)
    datadir = datadir_of(args)
    try:
        path = socket_path(datadir)
        make_private(datadir)
        with exclusive(datadir):
            sink = Sink(log_file(datadir, settings), sys.stderr)
            identity = {"worker": "supervisor", "role": "supervisor", "pid": os.getpid(), "gen": 0}
            configure(settings.log.level, identity, sink=sink)
            # Bound before any worker starts, and held until the last has gone.
            door = open_door(settings.rpc, datadir)
            try:
                return protocol.run(supervise(settings, datadir, path, sink, door))
            finally:
                door.close()
    except AlreadyRunning as error:
        raise Failure(str(error), EXIT_FAILURE) from None
    except (UnusableDatadir, CannotListen) as error:
        raise Failure(str(error), EXIT_USAGE) from None


def log_file(datadir: Path, settings: Settings) -> RotatingJsonl:
    try:
        return RotatingJsonl(
            datadir / "logs" / "splitd.jsonl", settings.log.max_bytes, settings.log.backups
        )
    except OSError as error:  # a symlink or a directory where the file goes, say
        raise UnusableDatadir(describe(error)) from None


async def supervise(
    settings: Settings, datadir: Path, path: Path, sink: Sink, door: RpcDoor | None = None
) -> int:
    arbiter = Arbiter(settings, datadir, sink, door)
    server = await listen(path, arbiter)
    try:
        return await arbiter.run()
    finally:
        server.close()
        path.unlink(missing_ok=True)


# -- talking to a running supervisor --------------------------------------------------------


def status_json(status: SupervisorStatus) -> dict[str, Any]:
    return {
        "supervisor": {
            "pid": status.pid,
            "uptime_s": round(status.uptime_s, 3),
            "version": status.version,
        },
        "rpc": None if status.rpc is None else {"url": status.rpc.url},
        "workers": [
            {
                **dataclasses.asdict(worker),
                "uptime_s": None if worker.uptime_s is None else round(worker.uptime_s, 3),
            }
            for worker in status.workers
        ],
    }


def _last_exit(worker: WorkerStatus) -> str:
    if worker.last_exit is None:
        return "-"
    how = worker.last_exit.signal or f"code {worker.last_exit.code}"
    return f"{how} at {worker.last_exit.at}"


def status_table(status: SupervisorStatus) -> str:
    header = ("WORKER", "ROLE", "STATE", "PID", "GEN", "RESTARTS", "UPTIME", "LAST EXIT")
    rows = [
        (
            worker.name,
            worker.role,
            # Running answers pings; until it has opened what it serves, it is still loading.
            worker.state if worker.loaded or worker.state != "running" else "running (loading)",
            "-" if worker.pid is None else str(worker.pid),
            str(worker.generation),
            str(worker.restarts),
            "-" if worker.uptime_s is None else f"{worker.uptime_s:.1f}s",
            _last_exit(worker),
        )
        for worker in status.workers
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    rpc = "" if status.rpc is None else f", rpc {status.rpc.url}"
    lines = [
        f"supervisor pid {status.pid}, up {status.uptime_s:.1f}s, splitd {status.version}{rpc}",
        *(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
            for row in [header, *rows]
        ),
    ]
    return "\n".join(lines)


def cmd_status(args: argparse.Namespace) -> int:
    status = ask(args, lambda control: control.status())
    if args.json:
        emit(json.dumps(status_json(status), indent=2))
    else:
        emit(status_table(status))
    return EXIT_OK


def cmd_stop(args: argparse.Namespace) -> int:
    async def stop(control: Control) -> None:
        pid = (await control.status()).pid
        try:
            pidfd = os.pidfd_open(pid)
        except ProcessLookupError:
            return  # someone else's stop got there first
        try:
            await control.stop()
            await _exit_of(pidfd)
        finally:
            os.close(pidfd)

    ask(args, stop)
    return EXIT_OK


async def _exit_of(pidfd: int) -> None:
    """Wait for the process behind ``pidfd`` to exit: the kernel tells us, no polling."""
    loop = asyncio.get_running_loop()
    gone = loop.create_future()
    loop.add_reader(pidfd, lambda: gone.done() or gone.set_result(None))
    try:
        await asyncio.wait_for(gone, STOP_DEADLINE_S)
    except TimeoutError:
        raise Failure(f"the supervisor did not exit within {STOP_DEADLINE_S:g}s") from None
    finally:
        loop.remove_reader(pidfd)


def cmd_restart(args: argparse.Namespace) -> int:
    ask(args, lambda control: control.restart(args.worker))
    return EXIT_OK


def cmd_check_config(args: argparse.Namespace) -> int:
    emit(json.dumps(effective_config(settings_of(args)), indent=2))
    return EXIT_OK


def cmd_logs(args: argparse.Namespace) -> int:
    return logview.run(args, datadir_of(args), sys.stdout)


# -- parsing --------------------------------------------------------------------------------


class PrintVersion(argparse.Action):
    """``--version``; the version is looked up only when asked, not on every command."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, *_: Any) -> None:
        emit(f"splitd {splitd_version()}")
        flush_stdout()
        parser.exit()


def parser() -> argparse.ArgumentParser:
    # SUPPRESS lets the common options stand before or after the subcommand.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--datadir", default=argparse.SUPPRESS, help="default: $SPLITD_DATADIR, else ~/.splitd"
    )
    common.add_argument(
        "--config",
        type=Path,
        default=argparse.SUPPRESS,
        help="default: <datadir>/splitd.toml if it exists",
    )
    common.add_argument(
        "--set",
        action="append",
        metavar="SECTION.KEY=VALUE",
        default=argparse.SUPPRESS,
        help="override one setting (repeatable)",
    )

    top = argparse.ArgumentParser(
        prog="splitd", parents=[common], description="Supervise a regtest node and its wallet."
    )
    top.add_argument("--version", action=PrintVersion, help="print splitd's version and exit")
    commands = top.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(
        name: str, handler: Callable[[argparse.Namespace], int], help: str
    ) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, parents=[common], help=help, description=help)
        sub.set_defaults(handler=handler)
        return sub

    command("run", cmd_run, "start the supervisor and its workers in the foreground")
    command("check-config", cmd_check_config, "validate and print the effective configuration")
    command("status", cmd_status, "show the running supervisor's workers").add_argument(
        "--json", action="store_true", help="print the status as JSON"
    )
    command("stop", cmd_stop, "stop the running supervisor and wait for it to exit")
    command("restart", cmd_restart, "restart one worker").add_argument("worker")
    logview.add_arguments(command("logs", cmd_logs, "read <datadir>/logs (no supervisor needed)"))
    node = command("node", rpccli.cmd_node, "call a node method, e.g. getblockcount")
    wallet = command("wallet", rpccli.cmd_wallet, "call a wallet method, e.g. getnewaddress")
    wallet.add_argument(
        "--wallet", default="", metavar="NAME", help="default: the only or the 'default' wallet"
    )
    for sub in (node, wallet):
        rpccli.add_arguments(sub)
    minecli.add_arguments(command("mine", minecli.cmd_mine, "mine blocks through node.sock"))
    return top


def not_utf8(arguments: Sequence[str]) -> int | None:
    """The 1-based position of the first argument that is not UTF-8, as the shell counts them.

    Python hands such bytes over as lone surrogates, which no file, log or
    RPC message can carry: refused here, once, rather than failing deep inside.
    """
    for position, argument in enumerate(arguments, start=1):
        try:
            argument.encode("utf-8")
        except UnicodeEncodeError:
            return position
    return None


def main(argv: Sequence[str] | None = None) -> int:
    # Until `run` sets up its sink: JSON on stderr, and never structlog's default
    # console renderer, whose tracebacks show local variables.
    configure(
        "warning", {"worker": "cli", "role": "cli", "pid": os.getpid(), "gen": 0}, stream=sys.stderr
    )
    arguments = sys.argv[1:] if argv is None else list(argv)
    position = not_utf8(arguments)
    if position is not None:
        print(f"splitd: argument {position} is not valid UTF-8", file=sys.stderr)
        return EXIT_USAGE
    try:
        args = parser().parse_args(arguments)
        code = int(args.handler(args))
        flush_stdout()
        return code
    except BrokenPipeError:  # `splitd status | head -1`: the reader has what it wanted
        return EXIT_OK
    except Failure as failure:
        print(failure, file=sys.stderr)
        return failure.code
    except KeyboardInterrupt:
        return EXIT_OK
    except Exception as error:  # a bug: keep the traceback in the log, one line for the user
        structlog.get_logger().exception("splitd_crashed")
        print(f"splitd: internal error: {error!r}", file=sys.stderr)
        return EXIT_FAILURE
    finally:
        release_stdout()  # after --help, a failure, or a broken pipe
