"""Bad configuration through the real ``splitd`` command: exit 2, one line per error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from supervisor.output import print_result
from tests.conftest import splitd_cli


def assert_config_error(result, *expected_lines: str) -> None:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.splitlines() == list(expected_lines)
    assert result.stdout == ""


@pytest.mark.parametrize("command", ["check-config", "run"])
def test_a_typo_in_the_file(datadir: Path, command: str):
    (datadir / "splitd.toml").write_text('[wallet]\nproces = "inprocess"\n')
    result = splitd_cli(command, "--datadir", str(datadir))
    assert_config_error(
        result,
        "wallet.proces: unknown setting; did you mean 'process'? "
        f"(got 'inprocess' from file {datadir}/splitd.toml)",
    )


@pytest.mark.parametrize("command", ["check-config", "run"])
def test_a_wrong_type_and_a_typo_in_the_environment_together(datadir: Path, command: str):
    result = splitd_cli(
        command,
        "--datadir",
        str(datadir),
        "--set",
        "health.misses=many",
        env={"SPLITD_HELTH__MISSES": "3"},
    )
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 2, lines
    assert any(
        line.startswith("helth: unknown setting; did you mean 'health'?")
        and "SPLITD_HELTH__MISSES" in line
        for line in lines
    )
    assert any(
        line.startswith("health.misses: ") and "(got 'many' from --set)" in line for line in lines
    )


@pytest.mark.parametrize("command", ["check-config", "run"])
def test_a_missing_config_file(datadir: Path, command: str):
    missing = datadir / "nope.toml"
    result = splitd_cli(command, "--datadir", str(datadir), "--config", str(missing))
    assert_config_error(result, f"config: file not found (got '{missing}')")


@pytest.mark.parametrize("command", ["check-config", "run"])
def test_a_toml_syntax_error_names_the_line(datadir: Path, command: str):
    (datadir / "splitd.toml").write_text("[health]\ninterval_s = 1\nmisses 3\n")
    result = splitd_cli(command, "--datadir", str(datadir))
    assert result.returncode == 2
    [line] = result.stderr.splitlines()
    assert line.startswith(f"config: {datadir}/splitd.toml: ") and "line 3" in line


def test_a_malformed_env_name(datadir: Path):
    result = splitd_cli("check-config", "--datadir", str(datadir), env={"SPLITD_LOGLEVEL": "x"})
    assert_config_error(
        result,
        "SPLITD_LOGLEVEL: not a setting; settings are SPLITD_<SECTION>__<KEY> or SPLITD_WALLETS"
        " (got 'x')",
    )


def test_check_config_prints_the_effective_config_with_precedence(datadir: Path):
    (datadir / "splitd.toml").write_text("[health]\nmisses = 7\ninterval_s = 9\n")
    result = splitd_cli(
        "check-config",
        "--datadir",
        str(datadir),
        "--set",
        "health.interval_s=4",
        env={"SPLITD_HEALTH__MISSES": "8", "SPLITD_WALLET__PROCESS": "inprocess"},
    )
    assert result.returncode == 0, result.stderr
    effective = json.loads(result.stdout)
    assert effective["health"]["misses"] == 8  # env beats the file
    assert effective["health"]["interval_s"] == 4.0  # --set beats the file
    assert effective["wallet"]["process"] == "inprocess"


def test_datadir_from_the_environment(datadir: Path):
    (datadir / "splitd.toml").write_text("[log]\nlevel = 'DEBUG'\n")
    result = splitd_cli("check-config", env={"SPLITD_DATADIR": str(datadir)})
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["log"]["level"] == "debug"


def test_rpc_results_print_as_bitcoin_cli_prints_them(capsys):
    print_result('{"trusted": 0.00000000, "txs": [50.00000000], "none": null}')
    print_result('"bcrt1qxyz"')
    print_result("null")
    print_result("7")
    assert capsys.readouterr().out == (
        '{\n  "trusted": 0.00000000,\n  "txs": [\n    50.00000000\n  ],\n  "none": null\n}\n'
        "bcrt1qxyz\n7\n"
    )
