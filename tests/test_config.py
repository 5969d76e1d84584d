"""Loading settings from file, env and --set, and the one-line errors."""

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from textwrap import dedent
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from config import ConfigError, Settings, effective_config, load_settings

DEFAULTS = {
    "node": {"restart": "permanent"},
    "wallet": {
        "process": "separate",
        "restart": "permanent",
        "fallbackfee": 0.0002,
        "maxtxfee": 0.1,
    },
    "restart": {
        "max_restarts": 5,
        "within_s": 60.0,
        "backoff_initial_s": 0.1,
        "backoff_max_s": 30.0,
        "reset_after_s": 30.0,
    },
    "health": {"interval_s": 5.0, "timeout_s": 2.0, "misses": 3, "start_timeout_s": 60.0},
    "supervisor": {"stop_timeout_s": 10.0},
    "log": {"level": "info", "max_bytes": 10 * 1024 * 1024, "backups": 5},
    "ipc": {"call_timeout_s": 10.0, "bind": "unix"},
    "rpc": {"bind": "127.0.0.1", "port": 18443, "auth": [], "restart": "permanent"},
    "wallets": None,
}
# From Core's test/functional/rpc_users.py: user1's password is "bitcoin".
RPCAUTH = (
    "user1:6dd184e5e69271fdd69103464630014f"
    "$eb3d7ce67c4d1ff3564270519b03b636c0291012692a5fa3dd1d2075daedd07b"
)


def load(
    datadir: Path,
    toml: str | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Sequence[str] = (),
    config_file: Path | None = None,
) -> Settings:
    if toml is not None:
        (datadir / "splitd.toml").write_text(dedent(toml))
    return load_settings(
        datadir=datadir,
        config_file=config_file,
        environ=environ or {},
        overrides=overrides,
    )


def errors(datadir: Path, **sources: Any) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load(datadir, **sources)
    assert str(info.value) == "\n".join(info.value.errors)
    for line in info.value.errors:
        assert "\n" not in line
    return info.value.errors


def file_of(datadir: Path) -> str:
    return f"file {datadir / 'splitd.toml'}"


def test_defaults_without_any_source(tmp_path: Path) -> None:
    settings = load(tmp_path)
    assert settings == Settings()
    assert effective_config(settings) == DEFAULTS
    json.dumps(effective_config(settings))


def test_file_then_env_then_set(tmp_path: Path) -> None:
    toml = """
        [restart]
        max_restarts = 1
        within_s = 1.5
        [health]
        misses = 1
    """
    environ = {"SPLITD_RESTART__WITHIN_S": "2.5", "SPLITD_HEALTH__MISSES": "2"}
    settings = load(tmp_path, toml, environ, ["health.misses=3"])
    assert settings.restart.max_restarts == 1
    assert settings.restart.within_s == 2.5
    assert settings.health.misses == 3
    assert settings.restart.backoff_max_s == 30.0


def test_explicit_file_replaces_the_datadir_one(tmp_path: Path) -> None:
    other = tmp_path / "other.toml"
    other.write_text('[wallet]\nprocess = "inprocess"\n')
    settings = load(tmp_path, "[node]\nrestart = 'temporary'\n", config_file=other)
    assert settings.wallet.process == "inprocess"
    assert settings.node.restart == "permanent"


def test_env_names_are_case_insensitive(tmp_path: Path) -> None:
    settings = load(tmp_path, environ={"splitd_Wallet__Process": "inprocess"})
    assert settings.wallet.process == "inprocess"


def test_datadir_env_and_foreign_env_are_ignored(tmp_path: Path) -> None:
    environ = {"SPLITD_DATADIR": "/somewhere", "HOME": "/root", "SPLITDX": "1"}
    assert load(tmp_path, environ=environ) == Settings()


def test_log_level_is_stored_lower_case(tmp_path: Path) -> None:
    assert load(tmp_path, "[log]\nlevel = 'DEBUG'\n").log.level == "debug"
    assert load(tmp_path, overrides=["log.level=Warning"]).log.level == "warning"


def test_typo_in_file_key_suggests_the_name(tmp_path: Path) -> None:
    assert errors(tmp_path, toml="[wallet]\nproces = 'x'\n") == [
        "wallet.proces: unknown setting; did you mean 'process'?"
        f" (got 'x' from {file_of(tmp_path)})"
    ]


def test_typo_in_section_suggests_the_name(tmp_path: Path) -> None:
    assert errors(tmp_path, toml="[walet]\nprocess = 'x'\n") == [
        "walet: unknown setting; did you mean 'wallet'?"
        f" (got {{process = 'x'}} from {file_of(tmp_path)})"
    ]


def test_empty_unknown_section_is_reported(tmp_path: Path) -> None:
    assert errors(tmp_path, toml="[nothing]\n") == [
        f"nothing: unknown setting (got {{}} from {file_of(tmp_path)})"
    ]


def test_typo_in_env_key(tmp_path: Path) -> None:
    assert errors(tmp_path, environ={"SPLITD_HEALTH__MISS": "2"}) == [
        "health.miss: unknown setting; did you mean 'misses'?"
        " (got '2' from env SPLITD_HEALTH__MISS)"
    ]


def test_wrong_type_names_value_and_source(tmp_path: Path) -> None:
    assert errors(tmp_path, environ={"SPLITD_RESTART__MAX_RESTARTS": "abc"}) == [
        "restart.max_restarts: Input should be a valid integer, unable to parse string as an"
        " integer (got 'abc' from env SPLITD_RESTART__MAX_RESTARTS)"
    ]


@pytest.mark.parametrize("name", ["SPLITD_FOO", "SPLITD_WALLET_PROCESS", "SPLITD_A__B__C"])
def test_env_var_of_the_wrong_shape(tmp_path: Path, name: str) -> None:
    assert errors(tmp_path, environ={name: "value"}) == [
        f"{name}: not a setting; settings are SPLITD_<SECTION>__<KEY> or SPLITD_WALLETS"
        " (got 'value')"
    ]


def test_wallets_from_every_source(tmp_path: Path) -> None:
    """Core's -wallet, given as a list in the file or as names split by commas elsewhere."""
    assert load(tmp_path, toml='wallets = ["default", "alice"]\n').wallets == ["default", "alice"]
    assert load(tmp_path, environ={"SPLITD_WALLETS": "alice, bob"}).wallets == ["alice", "bob"]
    assert load(tmp_path, overrides=["wallets="]).wallets == []
    assert errors(tmp_path, overrides=["wallets=ok,../etc"]) == [
        "wallets: Input should be wallet names of letters, digits, '_', '.' and '-' (up to 64,"
        " not starting with '.' or '-') (got 'ok,../etc' from --set)"
    ]


def test_missing_explicit_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    assert errors(tmp_path, config_file=missing) == [f"config: file not found (got '{missing}')"]


def test_unreadable_file(tmp_path: Path) -> None:
    (tmp_path / "splitd.toml").mkdir()
    [line] = errors(tmp_path)
    assert line.startswith(f"config: cannot read {tmp_path / 'splitd.toml'}: ")


def test_toml_syntax_error_names_line_and_column(tmp_path: Path) -> None:
    assert errors(tmp_path, toml="[log]\nlevel = 'info'\nmax bytes = 1\n") == [
        f"config: {tmp_path / 'splitd.toml'}: Expected '=' after a key in a key/value pair"
        " (at line 3, column 5)"
    ]


@pytest.mark.parametrize(
    "item", ["wallet.process", "walletprocess=x", "wallet=3", ".process=x", "wallet.=x", "a.b.c=1"]
)
def test_malformed_set(tmp_path: Path, item: str) -> None:
    assert errors(tmp_path, overrides=[item]) == [
        f"--set: expected SECTION.KEY=VALUE or wallets=NAME,... (got '{item}')"
    ]


def test_bool_is_not_a_number(tmp_path: Path) -> None:
    toml = "[restart]\nmax_restarts = true\nwithin_s = false\n"
    source = file_of(tmp_path)
    assert errors(tmp_path, toml=toml) == [
        f"restart.max_restarts: Input should be a number, not a boolean (got true from {source})",
        f"restart.within_s: Input should be a number, not a boolean (got false from {source})",
    ]


@pytest.mark.parametrize(
    ("value", "message"),
    [("inf", "Input should be a finite number"), ("nan", "Input should be greater than 0")],
)
def test_durations_are_finite(tmp_path: Path, value: str, message: str) -> None:
    assert errors(tmp_path, overrides=[f"ipc.call_timeout_s={value}"]) == [
        f"ipc.call_timeout_s: {message} (got '{value}' from --set)"
    ]


def test_section_given_a_single_value(tmp_path: Path) -> None:
    assert errors(tmp_path, toml="wallet = 3\n") == [
        f"wallet: Input should be a table of settings (got 3 from {file_of(tmp_path)})"
    ]


def test_backoff_max_below_initial(tmp_path: Path) -> None:
    environ = {"SPLITD_RESTART__BACKOFF_MAX_S": "1"}
    assert errors(tmp_path, environ=environ, overrides=["restart.backoff_initial_s=2"]) == [
        "restart.backoff_max_s: Input should be greater than or equal to backoff_initial_s (2.0)"
        " (got '1' from env SPLITD_RESTART__BACKOFF_MAX_S)"
    ]


def test_backoff_max_default_is_checked_too(tmp_path: Path) -> None:
    assert errors(tmp_path, overrides=["restart.backoff_initial_s=60"]) == [
        "restart.backoff_max_s: Input should be greater than or equal to backoff_initial_s (60.0)"
        " (got 30.0 from defaults)"
    ]


def test_long_values_are_cut(tmp_path: Path) -> None:
    [line] = errors(tmp_path, overrides=["log.level=" + "x" * 200])
    assert line == (
        "log.level: Input should be 'debug', 'info', 'warning' or 'error'"
        f" (got '{'x' * 56}... from --set)"
    )


def test_later_source_hides_an_earlier_bad_value(tmp_path: Path) -> None:
    settings = load(tmp_path, "wallet = 3\n", {"SPLITD_WALLET__PROCESS": "inprocess"})
    assert settings.wallet.process == "inprocess"


def test_every_error_of_every_source_at_once(tmp_path: Path) -> None:
    toml = """
        [wallet]
        proces = "inprocess"
        [health]
        misses = 0
    """
    environ = {"SPLITD_LOG__LEVEL": "loud", "SPLITD_NOPE": "1"}
    overrides = ["restart.max_restarts=-1", "broken"]
    source = file_of(tmp_path)
    assert errors(tmp_path, toml=toml, environ=environ, overrides=overrides) == [
        "SPLITD_NOPE: not a setting; settings are SPLITD_<SECTION>__<KEY> or SPLITD_WALLETS"
        " (got '1')",
        "--set: expected SECTION.KEY=VALUE or wallets=NAME,... (got 'broken')",
        f"wallet.proces: unknown setting; did you mean 'process'? (got 'inprocess' from {source})",
        "restart.max_restarts: Input should be greater than or equal to 0 (got '-1' from --set)",
        f"health.misses: Input should be greater than or equal to 1 (got 0 from {source})",
        "log.level: Input should be 'debug', 'info', 'warning' or 'error'"
        " (got 'loud' from env SPLITD_LOG__LEVEL)",
    ]


def test_errors_name_every_source_of_a_section(tmp_path: Path) -> None:
    [line] = errors(tmp_path, toml="[walet]\nrestart = 'permanent'\n", overrides=["walet.x=1"])
    assert line.endswith(
        f"(got {{restart = 'permanent', x = '1'}} from {file_of(tmp_path)}, --set)"
    )


def _text(values: st.SearchStrategy[Any]) -> st.SearchStrategy[tuple[str, Any]]:
    return values.map(lambda value: (str(value), value))


POLICY = _text(st.sampled_from(["permanent", "transient", "temporary"]))
POSITIVE = _text(st.floats(min_value=1e-3, max_value=1e6))
LEVEL = st.sampled_from(["debug", "info", "warning", "error"]).flatmap(
    lambda level: st.sampled_from([level, level.upper(), level.title()]).map(
        lambda text: (text, level)
    )
)
# One valid (text, parsed) strategy per setting; backoff_initial_s stays at
# or below the default backoff_max_s and backoff_max_s at or above it, and
# likewise health.timeout_s and interval_s around 2 s, so any combination is valid.
VALID: dict[tuple[str, str], st.SearchStrategy[tuple[str, Any]]] = {
    ("node", "restart"): POLICY,
    ("wallet", "process"): _text(st.sampled_from(["separate", "inprocess"])),
    ("wallet", "restart"): POLICY,
    ("wallet", "fallbackfee"): _text(st.sampled_from([0.0, 0.0002, 0.00001234])),
    ("wallet", "maxtxfee"): _text(st.sampled_from([0.0, 0.1, 21000000.0])),
    ("restart", "max_restarts"): _text(st.integers(0, 10**6)),
    ("restart", "within_s"): POSITIVE,
    ("restart", "backoff_initial_s"): _text(st.floats(min_value=1e-3, max_value=30)),
    ("restart", "backoff_max_s"): _text(st.floats(min_value=30, max_value=1e6)),
    ("restart", "reset_after_s"): POSITIVE,
    ("health", "interval_s"): _text(st.floats(min_value=2, max_value=1e6)),
    ("health", "timeout_s"): _text(st.floats(min_value=1e-3, max_value=2)),
    ("health", "misses"): _text(st.integers(1, 1000)),
    ("health", "start_timeout_s"): POSITIVE,
    ("supervisor", "stop_timeout_s"): POSITIVE,
    ("log", "level"): LEVEL,
    ("log", "max_bytes"): _text(st.integers(4096, 2**40)),
    ("log", "backups"): _text(st.integers(0, 1000)),
    ("ipc", "call_timeout_s"): POSITIVE,
    ("ipc", "bind"): _text(st.sampled_from(["", "unix", "unix:/tmp/node.sock"])),
    ("rpc", "bind"): _text(st.sampled_from(["127.0.0.1", "::1", "localhost", "0.0.0.0"])),
    ("rpc", "port"): _text(st.integers(0, 65535)),
    ("rpc", "auth"): st.just((RPCAUTH, [RPCAUTH])),  # one entry, as env and --set give it
    ("rpc", "restart"): POLICY,
}


def test_round_trip_covers_every_setting() -> None:
    sections = {name: keys for name, keys in DEFAULTS.items() if isinstance(keys, dict)}
    assert set(VALID) == {(section, key) for section in sections for key in sections[section]}


@pytest.fixture(scope="module")
def empty_datadir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("datadir")


@given(
    chosen=st.fixed_dictionaries(
        {},
        optional={
            key: st.tuples(values, st.sampled_from(["env", "set"])) for key, values in VALID.items()
        },
    )
)
def test_any_valid_override_round_trips(
    empty_datadir: Path, chosen: dict[tuple[str, str], tuple[tuple[str, Any], str]]
) -> None:
    environ: dict[str, str] = {}
    overrides: list[str] = []
    expected = json.loads(json.dumps(DEFAULTS))
    for (section, key), ((text, value), via) in chosen.items():
        if via == "env":
            environ[f"SPLITD_{section.upper()}__{key.upper()}"] = text
        else:
            overrides.append(f"{section}.{key}={text}")
        expected[section][key] = value
    settings = load(empty_datadir, environ=environ, overrides=overrides)
    assert settings.model_dump() == expected


def test_a_ping_timeout_longer_than_the_interval(tmp_path: Path) -> None:
    assert errors(tmp_path, overrides=["health.interval_s=1", "health.timeout_s=3"]) == [
        "health.timeout_s: Input should be less than or equal to interval_s (1.0) "
        "(got '3' from --set)"
    ]


def test_rpcauth_entries_from_a_file_and_one_from_set(tmp_path: Path) -> None:
    second = "bob:salt$" + "0" * 64
    settings = load(tmp_path, toml=f"[rpc]\nauth = ['{RPCAUTH}', '{second}']\n")
    assert settings.rpc.auth == [RPCAUTH, second]
    assert load(tmp_path, overrides=[f"rpc.auth={second}"]).rpc.auth == [second]


@pytest.mark.parametrize(
    "entry",
    [
        "bob",  # no salt$hash
        "bob:salt",  # no $
        "bob:a:salt$" + "0" * 64,  # a second ':'
        "bob:s$a$" + "0" * 64,  # a second '$'
        "bob:salt$" + "A" * 64,  # upper case: Core's comparison never matches it
        "bob:salt$abc",  # no HMAC-SHA256
        "",
    ],
)
def test_a_bad_rpcauth_entry_is_one_line_naming_the_key(tmp_path: Path, entry: str) -> None:
    (line,) = errors(tmp_path, overrides=[f"rpc.auth={entry}"])
    assert line.startswith(f"rpc.auth: {entry!r} is not user:salt$hash")
    assert line.endswith("from --set)")


def test_rpcauth_must_be_strings(tmp_path: Path) -> None:
    assert errors(tmp_path, toml="[rpc]\nauth = [1]\n") == [
        f"rpc.auth: Input should be a list of strings (got [1] from {file_of(tmp_path)})"
    ]


@pytest.mark.parametrize("port", ["-1", "65536", "true"])
def test_rpc_port_is_a_port(tmp_path: Path, port: str) -> None:
    (line,) = errors(tmp_path, overrides=[f"rpc.port={port}"])
    assert line.startswith("rpc.port: ")


@pytest.mark.parametrize("bind", ["", "unix", "unix:/tmp/x.sock"])
def test_ipc_bind_takes_cores_forms(bind: str) -> None:
    assert Settings.model_validate({"ipc": {"bind": bind}}).ipc.bind == bind


@pytest.mark.parametrize("bind", ["tcp", "unix:", "UNIX"])
def test_ipc_bind_refuses_the_rest(bind: str) -> None:
    with pytest.raises(ValidationError, match=r"ipc\.bind"):
        Settings.model_validate({"ipc": {"bind": bind}})
