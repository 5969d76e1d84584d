"""A worker fed bytes that are not Cap'n Proto closes the connection and exits; nothing hangs."""

from __future__ import annotations

import contextlib
import socket
import struct
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from config import Settings
from ipc.process import Launch
from supervisor.spawn import Spawned, preload, spawn

preload(["node.worker"])


def start_node(datadir: Path) -> Spawned:
    return spawn(
        Launch(
            entry="node.worker:make_init",
            name="node",
            role="node",
            generation=1,
            datadir=datadir,
            log_level="warning",
            call_timeout_s=5.0,
            settings=Settings(),
        )
    )


def finish(spawned: Spawned) -> int | None:
    """Wait (bounded) for the worker to exit; kill it if it does not, and say so."""
    spawned.process.join(timeout=10)
    code = spawned.process.exitcode
    if code is None:
        spawned.process.kill()
        spawned.process.join()
    for fd in (spawned.stdout, spawned.stderr):
        socket.close(fd)
    spawned.sock.close()
    return code


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(garbage=st.binary(min_size=1, max_size=4096))
def test_random_bytes_then_eof_end_the_worker_as_a_failure(garbage: bytes, tmp_path: Path):
    spawned = start_node(tmp_path)
    # It may hang up on us mid-way: that is the point.
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        spawned.sock.sendall(garbage)
        spawned.sock.shutdown(socket.SHUT_WR)
    # Whatever the bytes were, the worker never saw a shutdown request: exit code 1.
    assert finish(spawned) == 1


def test_an_absurd_message_header_makes_the_worker_hang_up_by_itself(tmp_path: Path):
    spawned = start_node(tmp_path)
    # A segment table announcing 2**31 segments: no valid message looks like this.
    spawned.sock.sendall(struct.pack("<I", 0x7FFFFFFF) + b"\0" * 60)
    spawned.sock.settimeout(10)
    # Cap'n Proto answers with an Abort message, then closes: read to EOF (a hang times out).
    reply = b""
    while chunk := spawned.sock.recv(1 << 16):
        reply += chunk
    assert b"limit" in reply  # the abort names the exceeded limit; it carries no traceback
    assert b"Traceback" not in reply
    assert finish(spawned) == 1
