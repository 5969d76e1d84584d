"""Chaos: random signals under a send/mine workload, then splitd's promises, checked
through its commands (see engine.py). A short run by default; the long one is
``pytest -m chaos_long`` or ``python -m bench.chaos``."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

ENGINE = [sys.executable, "-m", "tests.chaos.engine"]


def engine(*args: str, timeout: float) -> dict[str, Any]:
    """Run the engine in a process of its own and read its report."""
    done = subprocess.run(
        [*ENGINE, *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    report: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    return report


def assert_held(report: dict[str, Any]) -> None:
    assert report["violations"] == [], f"seed {report['seed']}: {report['violations']}"
    assert sum(report["signals"].values()) >= 5, report["signals"]  # the chaos happened
    assert report["sends_acknowledged"] > 0
    checked = report["checked"]
    assert checked["acknowledged sends found"] == report["sends_acknowledged"]
    assert checked["wallet coins unspent at the node"] > 0
    assert checked["follow-up sends"] == 5
    assert report["left_behind"] == []


@pytest.mark.timeout(180)
def test_a_short_chaos_run_keeps_every_promise():
    assert_held(engine("--seconds", "12", timeout=170))


@pytest.mark.timeout(180)
def test_forty_wallet_kills_inside_sends_leave_nothing_unknown_and_no_send_failing():
    report = engine("--targeted", "40", timeout=170)
    assert report["violations"] == []
    assert report["kills"] == 40
    assert report["unknown_to_wallet"] == 0
    assert report["failed_follow_ups"] == 0


@pytest.mark.chaos_long
@pytest.mark.timeout(600)
def test_a_long_chaos_run_keeps_every_promise():
    assert_held(engine("--seconds", "180", timeout=590))
