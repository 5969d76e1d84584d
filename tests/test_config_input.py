"""Hostile or broken config input: one line and exit 2, never a traceback, never an endless read.

Whatever ``--config`` names is read, and whatever the file holds is parsed, so
neither a device, a FIFO, a huge file nor a deeply nested document may hang
splitd or crash it with a RecursionError.
"""

from __future__ import annotations

import copy
import os
import socket
import subprocess
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from config import ConfigError, Settings, load_settings
from config.errors import show
from config.merge import Entry, KeyPath, Layers
from config.sources import MAX_DEPTH, MAX_FILE_BYTES
from tests.conftest import splitd_cli

DEEP = 1000
"""Deeper than Python's recursion limit allows anything to recurse."""

TOO_DEEP = f"nested too deeply (limit {MAX_DEPTH})"

DEEP_DOCUMENTS = {
    "arrays": "a = " + "[" * DEEP + "]" * DEEP + "\n",
    "inline-tables": "a = " + "{x=" * DEEP + "1" + "}" * DEEP + "\n",
    "mixed": "a = " + "[{x=" * DEEP + "1" + "}]" * DEEP + "\n",
    "dotted-key": ".".join(["x"] * DEEP) + " = 1\n",
    "table-header": "[" + ".".join(["x"] * DEEP) + "]\ny = 1\n",
    "array-of-tables": "[[" + ".".join(["x"] * DEEP) + "]]\ny = 1\n",
    "in-a-setting": "[wallet]\nprocess = " + "[" * DEEP + "]" * DEEP + "\n",
}


def load_file(datadir: Path, config_file: Path | None = None) -> Settings:
    return load_settings(datadir=datadir, config_file=config_file, environ={}, overrides=[])


def file_errors(datadir: Path, config_file: Path | None = None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_file(datadir, config_file)
    for line in info.value.errors:
        assert "\n" not in line
    return info.value.errors


def write(datadir: Path, text: str, name: str = "splitd.toml") -> Path:
    path = datadir / name
    path.write_text(text)
    return path


# -- nesting ------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", DEEP_DOCUMENTS)
def test_a_deeply_nested_file_is_one_line(tmp_path: Path, kind: str) -> None:
    path = write(tmp_path, DEEP_DOCUMENTS[kind])
    assert file_errors(tmp_path) == [f"config: {path}: {TOO_DEEP}"]


def test_brackets_nested_to_the_limit_are_validated_as_usual(tmp_path: Path) -> None:
    """The limit is on depth, keys and indices alike: ``a`` is one, each array one more."""
    write(tmp_path, "a = " + "[" * MAX_DEPTH + "]" * MAX_DEPTH + "\n")
    [line] = file_errors(tmp_path)
    assert line.startswith("a: unknown setting (got [[[[")
    path = write(tmp_path, "a = " + "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1) + "\n")
    assert file_errors(tmp_path) == [f"config: {path}: {TOO_DEEP}"]


def test_keys_nested_to_the_limit_are_validated_as_usual(tmp_path: Path) -> None:
    """Dotted keys nest without a bracket, so the parsed document is measured too."""
    write(tmp_path, ".".join(["x"] * MAX_DEPTH) + " = 1\n")
    [line] = file_errors(tmp_path)
    assert line.startswith("x: unknown setting (got {x = {x = ")
    path = write(tmp_path, ".".join(["x"] * (MAX_DEPTH + 1)) + " = 1\n")
    assert file_errors(tmp_path) == [f"config: {path}: {TOO_DEEP}"]


def test_show_renders_no_deeper_than_it_shows() -> None:
    """Every value reaching an error line passes through show(), from any source."""
    value: object = []
    table: object = {}
    for _ in range(100_000):
        value = [value]
        table = {"x": table}
    assert show(value) == "[" * 57 + "..."
    assert show(table) == "{x = " * 11 + "{x..."
    assert show(list(range(10**6))).endswith("...")


def test_an_integer_of_too_many_digits(tmp_path: Path) -> None:
    path = write(tmp_path, "[restart]\nmax_restarts = 1" + "0" * 5000 + "\n")
    assert file_errors(tmp_path) == [f"config: {path}: an integer has more than 4300 digits"]


def test_an_integer_beyond_64_bits(tmp_path: Path) -> None:
    """tomllib reads hex of any length; printing it in decimal would fail past 4300 digits."""
    write(tmp_path, "[restart]\nmax_restarts = 0x" + "f" * 4000 + "\n")
    [line] = file_errors(tmp_path)
    assert line.startswith(
        "restart.max_restarts: Input should be less than or equal to 9223372036854775807"
        " (got 0xffff"
    )


def test_a_file_of_many_keys_is_one_error(tmp_path: Path) -> None:
    """Merging once scanned every origin for every key: quadratic, minutes for such a file."""
    keys = "".join(f"k{index} = 1\n" for index in range(80_000))
    path = write(tmp_path, "[x]\n" + keys)
    [line] = file_errors(tmp_path)
    assert line.startswith("x: unknown setting (got {k0 = 1, k1 = 1,")
    assert line.endswith(f"... from file {path})")


class ScanningLayers:
    """The former ``Layers``, which scanned every origin: the reference for the indexed one."""

    def __init__(self) -> None:
        self.tree: dict[str, Any] = {}
        self.origin: dict[KeyPath, str] = {}

    def put(self, entry: Entry) -> None:
        node = self.tree
        for depth, part in enumerate(entry.path[:-1], start=1):
            if not isinstance(node.get(part), dict):
                node[part] = {}
                self.forget(entry.path[:depth])
            node = node[part]
        last = entry.path[-1]
        if entry.value == {} and isinstance(node.get(last), dict):
            return
        node[last] = entry.value
        self.forget(entry.path)
        self.origin[entry.path] = entry.source

    def source_of(self, loc: tuple[object, ...]) -> str | None:
        sources = [src for path, src in self.origin.items() if path[: len(loc)] == loc]
        return ", ".join(dict.fromkeys(sources)) or None

    def forget(self, prefix: KeyPath) -> None:
        for path in [p for p in self.origin if p[: len(prefix)] == prefix]:
            del self.origin[path]


ENTRIES = st.lists(
    st.builds(
        Entry,
        st.lists(st.sampled_from("ab"), min_size=1, max_size=3).map(tuple),
        st.one_of(st.builds(dict), st.just(1), st.just("x")),
        st.sampled_from(["file", "env", "--set"]),
    ),
    max_size=12,
)


@given(entries=ENTRIES)
def test_indexed_origins_name_the_same_sources(entries: list[Entry]) -> None:
    layers, reference = Layers(), ScanningLayers()
    for entry in entries:
        layers.put(entry)
        # A table of its own: both put the value into their trees, and go on filling it.
        reference.put(Entry(entry.path, copy.deepcopy(entry.value), entry.source))
    assert layers.tree == reference.tree
    for loc in {entry.path[:end] for entry in entries for end in range(4)}:
        assert layers.source_of(loc) == reference.source_of(loc)


# -- what --config names ------------------------------------------------------------------------


@pytest.fixture
def fifo(datadir: Path) -> Path:
    path = datadir / "fifo.toml"
    os.mkfifo(path)
    return path


@pytest.mark.timeout(10)  # an open() that waits for a writer would wait forever
def test_a_fifo_is_refused_unopened(datadir: Path, fifo: Path) -> None:
    assert file_errors(datadir, fifo) == [
        f"config: cannot read {fifo}: not a regular file (a FIFO)"
    ]


def test_a_character_device_is_refused(datadir: Path) -> None:
    """/dev/urandom rather than /dev/zero: should the refusal regress, this ends at the 1 MiB
    bound instead of reading forever (the CLI test reads /dev/zero, under a timeout)."""
    assert file_errors(datadir, Path("/dev/urandom")) == [
        "config: cannot read /dev/urandom: not a regular file (a character device)"
    ]


def test_dev_null_is_the_usual_way_to_say_no_file(datadir: Path) -> None:
    write(datadir, "[log]\nlevel = 'debug'\n")  # the default file, which /dev/null overrides
    assert load_file(datadir, Path("/dev/null")) == Settings()


def test_a_directory_is_refused(datadir: Path) -> None:
    assert file_errors(datadir, datadir) == [
        f"config: cannot read {datadir}: not a regular file (a directory)"
    ]


def test_a_socket_is_refused(datadir: Path) -> None:
    path = datadir / "socket.toml"
    with socket.socket(socket.AF_UNIX) as listener:
        listener.bind(str(path))
        assert file_errors(datadir, path) == [
            f"config: cannot read {path}: not a regular file (a socket)"
        ]


def test_the_default_file_is_refused_too(datadir: Path) -> None:
    os.mkfifo(datadir / "splitd.toml")
    assert file_errors(datadir) == [
        f"config: cannot read {datadir / 'splitd.toml'}: not a regular file (a FIFO)"
    ]


def test_a_file_over_1_mib(tmp_path: Path) -> None:
    path = write(tmp_path, "#" * MAX_FILE_BYTES + "\n")
    assert file_errors(tmp_path) == [f"config: {path}: larger than 1 MiB"]


def test_a_file_of_exactly_1_mib(tmp_path: Path) -> None:
    write(tmp_path, "[log]\nlevel = 'error'\n#".ljust(MAX_FILE_BYTES - 1, "x") + "\n")
    assert (tmp_path / "splitd.toml").stat().st_size == MAX_FILE_BYTES
    assert load_file(tmp_path).log.level == "error"


def test_the_read_stops_past_1_mib_whatever_the_size_said(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file may grow after fstat, and /proc files say 0: the read itself is bounded."""
    path = write(tmp_path, "#" * (2 * MAX_FILE_BYTES) + "\n")
    real_fstat = os.fstat

    def says_empty(fd: int) -> os.stat_result:
        fields = list(real_fstat(fd))
        fields[6] = 0  # st_size
        return os.stat_result(fields)

    monkeypatch.setattr(os, "fstat", says_empty)
    assert file_errors(tmp_path) == [f"config: {path}: larger than 1 MiB"]


def test_a_file_name_with_a_newline_stays_one_line(tmp_path: Path) -> None:
    path = write(tmp_path, "a = [\n", name="bad\nname.toml")
    [line] = file_errors(tmp_path, path)
    assert line.startswith(f"config: {str(path)!r}: ")


# -- through the real command -------------------------------------------------------------------


def assert_one_config_line(result: subprocess.CompletedProcess[str], expected: str) -> None:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert result.stderr.splitlines() == [expected]
    assert result.stdout == ""


def run_splitd(command: str, datadir: Path, config: Path) -> subprocess.CompletedProcess[str]:
    """A timeout, so that a read or an open that never ends fails the test instead of hanging it."""
    return splitd_cli(command, "--datadir", str(datadir), "--config", str(config), timeout=20)


@pytest.mark.parametrize("kind", ["arrays", "inline-tables", "array-of-tables"])
@pytest.mark.parametrize("command", ["check-config", "run"])
def test_a_deeply_nested_file_through_the_cli(datadir: Path, command: str, kind: str) -> None:
    config = write(datadir, DEEP_DOCUMENTS[kind], name="deep.toml")
    result = run_splitd(command, datadir, config)
    assert_one_config_line(result, f"config: {config}: {TOO_DEEP}")
    # Refused before anything started: no log, no lock, no socket.
    assert [path.name for path in datadir.iterdir()] == ["deep.toml"]


@pytest.mark.parametrize("command", ["check-config", "run"])
def test_dev_zero_through_the_cli(datadir: Path, command: str) -> None:
    result = run_splitd(command, datadir, Path("/dev/zero"))
    assert_one_config_line(
        result, "config: cannot read /dev/zero: not a regular file (a character device)"
    )


@pytest.mark.parametrize("command", ["check-config", "run"])
def test_a_fifo_through_the_cli(datadir: Path, fifo: Path, command: str) -> None:
    result = run_splitd(command, datadir, fifo)
    assert_one_config_line(result, f"config: cannot read {fifo}: not a regular file (a FIFO)")


@pytest.mark.parametrize("command", ["check-config", "run"])
def test_a_directory_through_the_cli(datadir: Path, command: str) -> None:
    result = run_splitd(command, datadir, datadir)
    assert_one_config_line(
        result, f"config: cannot read {datadir}: not a regular file (a directory)"
    )


@pytest.mark.parametrize("command", ["check-config", "run"])
def test_a_file_over_1_mib_through_the_cli(datadir: Path, command: str) -> None:
    config = write(datadir, "#" * MAX_FILE_BYTES + "\n", name="big.toml")
    result = run_splitd(command, datadir, config)
    assert_one_config_line(result, f"config: {config}: larger than 1 MiB")
