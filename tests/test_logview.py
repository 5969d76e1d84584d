"""`splitd logs` against real files: filters, rotation order, following, argument errors."""

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from io import StringIO
from pathlib import Path
from queue import Empty, Queue
from typing import Any

import pytest

from logs.pretty import render
from supervisor.logview import LogTail, add_arguments, parse_since, run

REPO = Path(__file__).resolve().parent.parent
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)

# The CLI is built elsewhere; this is the least of it that reaches logview.run.
RUNNER = """
import argparse, sys
from pathlib import Path
from supervisor import logview
parser = argparse.ArgumentParser()
logview.add_arguments(parser)
sys.exit(logview.run(parser.parse_args(sys.argv[2:]), Path(sys.argv[1]), sys.stdout))
"""


def record(event: str = "tick", **fields: Any) -> dict[str, Any]:
    return {
        "timestamp": "2026-11-25T02:29:41.123456Z",
        "level": "info",
        "event": event,
        "worker": "node",
        "pid": 1240,
        "gen": 1,
        **fields,
    }


def write_log(path: Path, *items: dict[str, Any] | str, mode: str = "w") -> None:
    """Dicts become JSON lines; strings are written as they are, to make torn lines."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open(mode) as file:
        for item in items:
            file.write(item if isinstance(item, str) else json.dumps(item) + "\n")


def logs(datadir: Path, *argv: str) -> tuple[int, str]:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    out = StringIO()
    code = run(parser.parse_args(argv), datadir, out)
    return code, out.getvalue()


def events(datadir: Path, *argv: str) -> list[str]:
    code, text = logs(datadir, "--json", *argv)
    assert code == 0
    return [json.loads(line)["event"] for line in text.splitlines()]


def test_rotated_files_come_oldest_first(tmp_path: Path) -> None:
    logdir = tmp_path / "logs"
    write_log(logdir / "splitd.jsonl.10", record("oldest"))
    write_log(logdir / "splitd.jsonl.2", record("older"))
    write_log(logdir / "splitd.jsonl.1", record("old"))
    write_log(logdir / "splitd.jsonl", record("current"))
    write_log(logdir / "splitd.jsonl.lock", record("not a log"))
    assert events(tmp_path) == ["oldest", "older", "old", "current"]


def test_filters_by_worker_level_and_event(tmp_path: Path) -> None:
    write_log(
        tmp_path / "logs" / "splitd.jsonl",
        record("worker_started", worker="supervisor", level="debug"),
        record("worker_started", worker="node", level="warning"),
        record("raw_output", worker="node", level="error"),
        record("worker_exited", worker="wallet", level="critical"),
        record("worker_exited", worker="wallet", level="loud"),
        record("worker_exited", worker="wallet", level=None),
    )
    assert events(tmp_path, "node", "wallet") == [
        "worker_started",
        "raw_output",
        *["worker_exited"] * 3,
    ]
    assert events(tmp_path, "--level", "WARNING") == [
        "worker_started",
        "raw_output",
        "worker_exited",
    ]
    assert events(tmp_path, "--event", "worker_*", "--level", "error") == ["worker_exited"]
    assert events(tmp_path, "--event", "*_output") == ["raw_output"]


def test_since_absolute_and_relative(tmp_path: Path) -> None:
    now = datetime.now(UTC)

    def stamp(ago: timedelta) -> str:
        return (now - ago).isoformat().replace("+00:00", "Z")

    write_log(
        tmp_path / "logs" / "splitd.jsonl",
        record("two_days", timestamp=stamp(timedelta(days=2))),
        record("two_hours", timestamp=stamp(timedelta(hours=2))),
        record("no_time", timestamp=None),
        record("five_minutes", timestamp=stamp(timedelta(minutes=5))),
    )
    assert events(tmp_path, "--since", "1h") == ["five_minutes"]
    assert events(tmp_path, "--since", "1d") == ["two_hours", "five_minutes"]
    since = (now - timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M:%S")
    assert events(tmp_path, "--since", since) == ["two_hours", "five_minutes"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30s", NOW - timedelta(seconds=30)),
        ("10m", NOW - timedelta(minutes=10)),
        ("2h", NOW - timedelta(hours=2)),
        ("1d", NOW - timedelta(days=1)),
        ("2026-11-25", datetime(2026, 11, 25, tzinfo=UTC)),
        ("2026-11-25T02:29:41Z", datetime(2026, 11, 25, 2, 29, 41, tzinfo=UTC)),
        ("2026-11-25T02:29:41", datetime(2026, 11, 25, 2, 29, 41, tzinfo=UTC)),
        ("2026-11-25T04:29:41+02:00", datetime(2026, 11, 25, 2, 29, 41, tzinfo=UTC)),
    ],
)
def test_parse_since(text: str, expected: datetime) -> None:
    assert parse_since(text, NOW) == expected


@pytest.mark.parametrize("text", ["yesterday", "10x", "-5m", "", "99999999999d"])
def test_parse_since_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="--since"):
        parse_since(text, NOW)


def test_last_n_counts_matching_records(tmp_path: Path) -> None:
    logdir = tmp_path / "logs"
    write_log(logdir / "splitd.jsonl.1", *(record(f"n{i}") for i in range(5)))
    write_log(logdir / "splitd.jsonl", *(record(f"n{i}") for i in range(5, 10)))
    write_log(logdir / "splitd.jsonl", record("w", worker="wallet"), mode="a")
    assert events(tmp_path, "-n", "3", "node") == ["n7", "n8", "n9"]
    assert events(tmp_path, "-n", "7", "node") == [f"n{i}" for i in range(3, 10)]
    assert events(tmp_path, "-n", "0") == []


def test_json_prints_lines_verbatim_and_skips_garbage(tmp_path: Path) -> None:
    kept = ['{"event":"a","worker":"node"}', '{ "event" : "b", "level": "info",  "x": [1, 2] }']
    write_log(
        tmp_path / "logs" / "splitd.jsonl",
        kept[0] + "\n",
        "not json at all\n",
        "[1, 2, 3]\n",
        "[" * 100_000 + "\n",
        "\xff\r\x00 garbage\n",
        kept[1] + "\n",
        '{"event": "torn", "wor',
    )
    assert logs(tmp_path, "--json") == (0, "".join(line + "\n" for line in kept))
    pretty = "".join(render(json.loads(line), colors=False) + "\n" for line in kept)
    assert logs(tmp_path) == (0, pretty)


def test_pretty_output_without_a_tty_has_no_colors(tmp_path: Path) -> None:
    write_log(tmp_path / "logs" / "splitd.jsonl", record("worker_started", delay_s=0.5))
    code, text = logs(tmp_path)
    assert (code, text) == (0, render(record("worker_started", delay_s=0.5), colors=False) + "\n")
    assert "\x1b" not in text


def test_missing_logs_print_nothing(tmp_path: Path) -> None:
    assert logs(tmp_path) == (0, "")
    assert logs(tmp_path / "nowhere", "-n", "5", "--json") == (0, "")


@pytest.mark.parametrize(
    "argv",
    [
        ["--level", "loud"],
        ["--since", "yesterday"],
        ["--since", "2026-13-01"],
        ["-n", "many"],
        ["-n", "-1"],
        ["-f", "-n", "1.5"],
    ],
)
def test_bad_arguments_exit_2_with_one_line(
    tmp_path: Path, argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    write_log(tmp_path / "logs" / "splitd.jsonl", record())
    assert logs(tmp_path, *argv) == (2, "")
    err = capsys.readouterr().err
    assert err.startswith("splitd logs: error: ")
    assert err.count("\n") == 1


def test_render_plain() -> None:
    line = render(
        record("worker_exited", role="node", exit_code=-9, signal="SIGKILL", note="two words"),
        colors=False,
    )
    assert line == (
        "02:29:41.123 info     node[1240] gen=1 worker_exited        "
        "exit_code=-9 signal=SIGKILL note='two words'"
    )
    assert "role=" not in line
    assert "role=wallet" in render(record(role="wallet"), colors=False)


def test_render_colors_and_exception() -> None:
    exception = 'Traceback (most recent call last):\n  File "x.py", line 1\nValueError: boom\n'
    plain = render(record("crashed", level="error", exception=exception), colors=False)
    assert plain.splitlines() == [
        "02:29:41.123 error    node[1240] gen=1 crashed",
        "Traceback (most recent call last):",
        '  File "x.py", line 1',
        "ValueError: boom",
    ]
    colored = render(record("crashed", level="error", exception=exception), colors=True)
    assert "\x1b[31m" in colored
    assert colored.split("\n")[1:] == plain.split("\n")[1:]


def test_render_escapes_terminal_controls() -> None:
    hostile = "\x1b]0;owned\x07\x1b[2J"
    line = render(
        record(hostile, worker=hostile, line=hostile, exception=f"Err: {hostile}\n"), colors=False
    )
    assert "\x1b" not in line
    assert "\x07" not in line
    assert line.count("\n") == 1


@pytest.mark.parametrize(
    "odd",
    [
        {},
        {"event": None, "level": 3, "pid": "x", "gen": None, "timestamp": 17, "exception": 42},
        {"timestamp": "yesterday", "worker": ["a"], "nested": {"k": [1.5, None]}, 1: 2},
    ],
)
def test_render_never_raises(odd: dict[Any, Any]) -> None:
    for colors in (False, True):
        assert isinstance(render(odd, colors=colors), str)


def test_tail_holds_partial_lines_and_survives_rotation(tmp_path: Path) -> None:
    path = tmp_path / "splitd.jsonl"
    tail = LogTail(path)
    assert list(tail.lines()) == []  # not there yet
    write_log(path, "a\n", "b-half")
    assert list(tail.lines()) == ["a"]
    write_log(path, "-done\n", mode="a")
    assert list(tail.lines()) == ["b-half-done"]

    write_log(path, "c\n", mode="a")
    path.rename(tmp_path / "splitd.jsonl.1")
    write_log(path, "d\n")
    assert list(tail.lines()) == ["c", "d"]

    path.rename(tmp_path / "splitd.jsonl.1")  # the writer has not reopened yet
    write_log(tmp_path / "splitd.jsonl.1", "e\n", mode="a")
    assert list(tail.lines()) == ["e"]
    write_log(path, "f\n")
    assert list(tail.lines()) == ["f"]

    write_log(path, "more\n", mode="a")
    assert list(tail.lines()) == ["more"]
    write_log(path, "g\n")  # truncated in place
    assert list(tail.lines()) == ["g"]
    tail.close()


class _LineReader:
    """Lines from a child's pipe, waited for with a deadline rather than a guessed sleep."""

    def __init__(self, stream: Any) -> None:
        self._queue: Queue[str] = Queue()
        threading.Thread(
            target=lambda: [self._queue.put(line) for line in stream], daemon=True
        ).start()

    def take(self, count: int, timeout: float = 10.0) -> list[str]:
        deadline = time.monotonic() + timeout
        lines = []
        while len(lines) < count:
            try:
                lines.append(self._queue.get(timeout=max(0.0, deadline - time.monotonic())))
            except Empty:
                pytest.fail(f"got {lines!r}, expected {count} lines")
        return lines


def _spawn(datadir: Path, *argv: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", RUNNER, str(datadir), *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )


def test_follow_waits_appends_rotates_and_stops_on_interrupt(tmp_path: Path) -> None:
    path = tmp_path / "logs" / "splitd.jsonl"
    child = _spawn(tmp_path, "-f", "--json", "node")
    try:
        out = _LineReader(child.stdout)
        write_log(path, record("a"), record("skipped", worker="wallet"))
        assert out.take(1) == [json.dumps(record("a")) + "\n"]
        write_log(path, record("b"), mode="a")
        assert [json.loads(line)["event"] for line in out.take(1)] == ["b"]
        write_log(path, record("c"), mode="a")
        path.rename(path.with_name("splitd.jsonl.1"))
        write_log(path, record("d"))
        assert [json.loads(line)["event"] for line in out.take(2)] == ["c", "d"]
        child.send_signal(signal.SIGINT)
        assert child.wait(timeout=10) == 0
        assert child.stderr is not None
        assert child.stderr.read() == ""
    finally:
        child.kill()
        child.wait()


def test_follow_starts_with_the_last_ten(tmp_path: Path) -> None:
    write_log(tmp_path / "logs" / "splitd.jsonl", *(record(f"n{i}") for i in range(15)))
    child = _spawn(tmp_path, "-f", "--json")
    try:
        out = _LineReader(child.stdout)
        assert [json.loads(line)["event"] for line in out.take(10)] == [
            f"n{i}" for i in range(5, 15)
        ]
        write_log(tmp_path / "logs" / "splitd.jsonl", record("live"), mode="a")
        assert [json.loads(line)["event"] for line in out.take(1)] == ["live"]
    finally:
        child.kill()
        child.wait()


def test_closed_pipe_is_a_clean_exit(tmp_path: Path) -> None:
    """`splitd logs | head -1`: far more output than a pipe buffers, then the reader leaves."""
    write_log(tmp_path / "logs" / "splitd.jsonl", *(record(f"n{i}") for i in range(20_000)))
    child = _spawn(tmp_path)
    assert child.stdout is not None
    assert child.stderr is not None
    assert child.stdout.readline()
    child.stdout.close()
    assert child.wait(timeout=30) == 0
    assert child.stderr.read() == ""
