"""The supervisor against real worker processes: crashes, hangs, stops, its own death."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import pytest

from tests.conftest import FAST, SPLITD, Running, splitd_cli, wait_until
from tests.procs import descendants, gone

REQUIRED = {"worker", "pid", "gen", "level", "event", "timestamp"}


def events(running: Running, *names: str) -> list[dict]:
    return [r for r in running.records() if r["event"] in names]


def test_sigkill_of_the_wallet_brings_up_generation_2_and_leaves_the_node_alone(splitd):
    running = splitd()
    before = running.wait_running()
    node_pid = before["workers"][0]["pid"]
    wallet_pid = running.worker("wallet")["pid"]

    os.kill(wallet_pid, signal.SIGKILL)

    # "running" is only entered once the new process has answered Init.ping.
    wallet = running.wait_worker("wallet", generation=2, state="running")
    assert wallet["restarts"] == 1
    assert wallet["pid"] != wallet_pid
    assert wallet["last_exit"]["signal"] == "SIGKILL"
    assert wallet["last_exit"]["code"] is None
    node = running.worker("node")
    assert (node["pid"], node["generation"], node["restarts"]) == (node_pid, 1, 0)
    assert gone(wallet_pid)


def test_a_stopped_worker_is_detected_as_hung_and_replaced(splitd):
    running = splitd()
    running.wait_running()
    wallet_pid = running.worker("wallet")["pid"]

    os.kill(wallet_pid, signal.SIGSTOP)

    bound = (
        float(FAST["health.interval_s"]) * int(FAST["health.misses"])
        + float(FAST["health.timeout_s"])
        + float(FAST["supervisor.stop_timeout_s"])
    )
    wallet = running.wait_worker("wallet", timeout=bound + 3, generation=2, state="running")
    assert wallet["last_exit"]["signal"] == "SIGKILL"  # SIGTERM cannot reach a stopped process
    hung = [r for r in events(running, "worker_hung") if r["worker"] == "wallet"]
    assert [r["pid"] for r in hung] == [wallet_pid]
    signalled = [r["signal"] for r in events(running, "worker_signalled") if r["pid"] == wallet_pid]
    assert signalled == ["SIGTERM", "SIGKILL"]
    assert gone(wallet_pid)


def test_workers_die_with_a_killed_supervisor(splitd):
    running = splitd()
    status = running.wait_running()
    pids = [w["pid"] for w in status["workers"]]

    running.process.kill()
    running.wait_exit()

    wait_until(lambda: all(gone(pid) for pid in pids), 2.0, "every worker gone")


def test_a_wallet_that_cannot_start_fails_after_max_restarts_with_backoff(datadir: Path, splitd):
    (datadir / "wallets").mkdir()
    (datadir / "wallets" / "default").write_text("not a directory")
    running = splitd(**{"restart.max_restarts": "3"})

    running.wait_worker("wallet", state="failed")
    node = running.wait_worker("node", state="running")
    assert node["generation"] == 1  # a failing wallet does not take the node down

    wallet = running.worker("wallet")
    assert (wallet["generation"], wallet["restarts"], wallet["last_exit"]["code"]) == (4, 3, 1)
    delays = [r["delay_s"] for r in events(running, "worker_restarting")]
    assert len(delays) == 3
    assert delays[0] == 0.0  # the first restart is immediate
    assert 0.025 <= delays[1] <= 0.05 and 0.05 <= delays[2] <= 0.1  # then doubling, jittered
    failed = events(running, "worker_failed")
    assert [r["worker"] for r in failed] == ["wallet"]
    crashes = [r for r in events(running, "worker_crashed") if r["worker"] == "wallet"]
    assert len(crashes) == 4 and "FileExistsError" in crashes[0]["exception"]


def test_a_node_that_cannot_start_makes_run_exit_3(datadir: Path, splitd):
    (datadir / "node").write_text("not a directory")
    running = splitd(**{"restart.max_restarts": "2"})

    assert running.wait_exit() == 3
    assert [r["worker"] for r in events(running, "worker_failed")] == ["node"]
    stopped = events(running, "supervisor_stopped")
    assert stopped[-1]["exit_code"] == 3


def test_stop_takes_the_gateway_then_the_wallet_down_before_the_node_and_leaves_nothing(
    splitd, datadir: Path
):
    running = splitd()
    status = running.wait_running()
    pids = {w["pid"] for w in status["workers"]}
    below = descendants(running.process.pid)
    assert pids < below  # the forkserver is there too

    result = splitd_cli("stop", "--datadir", str(datadir))

    assert result.returncode == 0, result.stderr
    assert running.process.poll() == 0  # `stop` returns once the supervisor has exited
    order = [(r["event"], r["worker"]) for r in events(running, "worker_stopping", "worker_exited")]
    assert order == [
        ("worker_stopping", "rpc"),
        ("worker_exited", "rpc"),
        ("worker_stopping", "wallet"),
        ("worker_exited", "wallet"),
        ("worker_stopping", "node"),
        ("worker_exited", "node"),
    ]
    assert all(r["exit_code"] == 0 for r in events(running, "worker_exited"))
    assert all(gone(pid) for pid in pids)  # gone before `stop` returned
    assert [r for r in running.records() if r["level"] in ("error", "critical")] == []
    wait_until(lambda: all(gone(pid) for pid in below), 5.0, "the forkserver gone too")
    assert not (datadir / "supervisor.sock").exists()
    assert not (datadir / "regtest" / ".cookie").exists()
    assert not (datadir / "regtest" / "rpc.port").exists()


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_to_the_supervisor_stops_it_cleanly(splitd, signum: signal.Signals):
    running = splitd()
    running.wait_running()

    running.process.send_signal(signum)

    assert running.wait_exit() == 0
    assert events(running, "supervisor_stopping")[0]["reason"] == f"signal {signum.name}"


def test_every_log_record_is_json_with_the_identity_fields(splitd):
    running = splitd()
    running.wait_running()
    wallet_pid = running.worker("wallet")["pid"]

    # faulthandler's dump on SIGABRT is not JSON: it must arrive wrapped, not lost.
    os.kill(wallet_pid, signal.SIGABRT)
    running.wait_worker("wallet", generation=2, state="running")
    running.process.send_signal(signal.SIGTERM)
    assert running.wait_exit() == 0

    records = running.records()  # json.loads of every line, or the test fails
    missing = [r for r in records if not r.keys() >= REQUIRED]
    assert not missing, missing[:3]
    raw = [r for r in records if r["event"] == "raw_output"]
    assert any("Fatal Python error: Aborted" in r["line"] for r in raw)
    assert all(r["worker"] == "wallet" and r["pid"] == wallet_pid for r in raw)
    assert {r["worker"] for r in records} == {"supervisor", "node", "wallet", "rpc"}


def test_status_restart_and_their_errors_through_the_cli(splitd, datadir: Path):
    running = splitd()
    running.wait_running()
    node_pid = running.worker("node")["pid"]

    status = splitd_cli("status", "--json", "--datadir", str(datadir))
    assert status.returncode == 0, status.stderr
    document = json.loads(status.stdout)
    assert document["supervisor"]["pid"] == running.process.pid
    assert [w["name"] for w in document["workers"]] == ["node", "wallet", "rpc"]
    assert set(document["workers"][0]) == {
        "name",
        "role",
        "state",
        "pid",
        "generation",
        "restarts",
        "uptime_s",
        "last_exit",
        "loaded",
    }
    table = splitd_cli("status", "--datadir", str(datadir))
    assert table.returncode == 0 and "wallet" in table.stdout and "running" in table.stdout

    unknown = splitd_cli("restart", "nosuch", "--datadir", str(datadir))
    assert unknown.returncode == 1
    assert unknown.stderr.strip() == "no worker 'nosuch'; workers: node, wallet, rpc"

    restarted = splitd_cli("restart", "wallet", "--datadir", str(datadir))
    assert restarted.returncode == 0, restarted.stderr
    wallet = running.wait_worker("wallet", generation=2, state="running")
    assert wallet["last_exit"] == {"code": 0, "signal": None, "at": wallet["last_exit"]["at"]}
    assert running.worker("node")["pid"] == node_pid


def test_no_supervisor_answers(datadir: Path):
    for command in (["status"], ["status", "--json"], ["stop"], ["restart", "wallet"]):
        result = splitd_cli(*command, "--datadir", str(datadir))
        assert result.returncode == 1
        assert result.stderr.strip() == f"no supervisor is running on {datadir}"


def test_a_second_supervisor_on_the_same_datadir_is_refused(splitd, datadir: Path):
    running = splitd()
    running.wait_running()

    second = splitd_cli("run", "--datadir", str(datadir))

    assert second.returncode == 1
    expected = f"another supervisor (pid {running.process.pid}) runs on {datadir}"
    assert second.stderr.strip() == expected
    assert running.process.poll() is None


def test_the_control_socket_is_private(splitd, datadir: Path):
    running = splitd()
    running.wait_running()
    assert (datadir / "supervisor.sock").stat().st_mode & 0o777 == 0o600


def test_an_inprocess_wallet_means_no_wallet_worker(splitd):
    running = splitd(**{"wallet.process": "inprocess"})
    status = running.wait_running()
    assert [(w["name"], w["role"]) for w in status["workers"]] == [
        ("node", "node"),
        ("rpc", "rpc"),
    ]


def test_a_stopped_worker_does_not_outlive_a_killed_supervisor(splitd):
    running = splitd()
    running.wait_running()
    below = descendants(running.process.pid)  # the forkserver and both workers
    os.kill(running.worker("wallet")["pid"], signal.SIGSTOP)  # it cannot notice anything now

    running.process.kill()
    running.wait_exit()

    wait_until(lambda: all(gone(pid) for pid in below), 2.0, "every process below it gone")


def test_death_by_a_real_time_signal_is_a_crash_like_any_other(splitd):
    running = splitd()
    running.wait_running()

    os.kill(running.worker("wallet")["pid"], signal.SIGRTMIN + 6)

    wallet = running.wait_worker("wallet", generation=2, state="running")
    assert wallet["last_exit"]["signal"] == "SIGRTMIN+6"


def test_a_stop_with_a_hung_node_keeps_its_order_and_restarts_nothing(splitd, datadir: Path):
    running = splitd()
    running.wait_running()
    os.kill(running.worker("node")["pid"], signal.SIGSTOP)

    assert splitd_cli("stop", "--datadir", str(datadir)).returncode == 0

    after = running.records()
    after = after[next(i for i, r in enumerate(after) if r["event"] == "supervisor_stopping") :]
    stopping = [r["worker"] for r in after if r["event"] == "worker_stopping"]
    assert stopping == ["rpc", "wallet", "node"]
    assert not [r for r in after if r["event"] in ("worker_restarting", "worker_started")]
    assert running.process.poll() == 0


def test_restarting_a_hung_worker_answers_at_once(splitd, datadir: Path):
    running = splitd(**{"supervisor.stop_timeout_s": "3"})
    running.wait_running()
    os.kill(running.worker("wallet")["pid"], signal.SIGSTOP)

    result = splitd_cli("restart", "wallet", "--datadir", str(datadir), timeout=5)

    assert result.returncode == 0, result.stderr
    assert running.worker("wallet")["state"] == "stopping"  # seconds of stop steps to go


def test_a_closed_console_does_not_stop_supervision(datadir: Path):
    read_end, write_end = os.pipe()
    process = subprocess.Popen(
        [
            *SPLITD,
            "run",
            "--datadir",
            str(datadir),
            "--set",
            "health.interval_s=0.2",
            "--set",
            "health.timeout_s=0.2",
            "--set",
            "rpc.port=0",  # never 18443: another splitd on this machine may hold it
        ],
        stdout=write_end,
        stderr=write_end,
        stdin=subprocess.DEVNULL,
    )
    os.close(write_end)
    running = Running(datadir, process)
    try:
        running.wait_running()
        os.close(read_end)  # like `splitd run | head -1` after its line
        os.kill(running.worker("wallet")["pid"], signal.SIGKILL)
        running.wait_worker("wallet", generation=2, state="running")
        process.send_signal(signal.SIGTERM)
        assert running.wait_exit() == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_a_failed_wallet_makes_run_exit_3_when_stopped(datadir: Path, splitd):
    (datadir / "wallets").mkdir()
    (datadir / "wallets" / "default").write_text("not a directory")
    running = splitd(**{"restart.max_restarts": "1"})
    running.wait_worker("wallet", state="failed")

    running.process.send_signal(signal.SIGTERM)

    assert running.wait_exit() == 3
