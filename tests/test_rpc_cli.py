"""``splitd node``/``splitd wallet`` as bitcoin-cli: Core's conversion table, -named, -stdin.

The table itself is Core's (rpc/conversion.py); these check that it is applied as
bitcoin-cli applies it, then drive a real splitd through the command.
"""

from __future__ import annotations

import json
import subprocess
from decimal import Decimal
from pathlib import Path

import pytest
from embit.script import Script
from embit.transaction import TransactionOutput

from btc.blocks import (
    Block,
)
from btc.primitives import (
    GENESIS_HASH,
)
from rpc.client import ConversionError, named, positional
from rpc.conversion import CONVERT, JSON, JSON_OR_STRING, STRING
from tests.blocks import block, coinbase
from tests.conftest import SPLITD, splitd_cli


def test_the_table_is_cores_row_for_row():
    assert len(CONVERT) == 328  # Core 31.99's vRPCConvertParams
    assert ("getblockhash", 0, "height", JSON) in CONVERT
    assert ("sendtoaddress", 0, "address", STRING) in CONVERT
    assert ("getblockstats", 0, "hash_or_height", JSON_OR_STRING) in CONVERT
    assert ("getblock", 1, "verbosity", JSON) in CONVERT
    assert ("getblock", 1, "verbose", JSON) in CONVERT  # the alias has a row of its own


def test_words_become_json_where_the_table_says_and_strings_elsewhere():
    assert positional("getblockhash", ["0"]) == [0]
    assert positional("sendtoaddress", ["123", "1.5"]) == ["123", Decimal("1.5")]
    assert positional("getblock", ["abc", "true"]) == ["abc", True]
    assert positional("getblockstats", ["00ff", '["height"]']) == ["00ff", ["height"]]
    assert positional("getblockstats", ["7"]) == [7]  # JSON if it parses, else the string
    assert positional("nosuchmethod", ["1", "[2]"]) == ["1", "[2]"]


@pytest.mark.parametrize("word", ["abc", " 1", "1 ", "NaN", "\u0661", "1_0", "{"])
def test_a_word_that_should_be_json_and_is_not_is_an_error(word: str):
    with pytest.raises(ConversionError, match=f"^Error parsing JSON: {word}$"):
        positional("getblockhash", [word])


def test_named_words_by_name_and_the_rest_under_args():
    assert named("getblockhash", ["height=0"]) == {"height": 0}
    assert named("getblock", ["blockhash=ab", "verbosity=2"]) == {"blockhash": "ab", "verbosity": 2}
    assert named("getblock", ["ab", "verbosity=2"]) == {"verbosity": 2, "args": ["ab"]}
    assert named("getblock", ["verbosity=1", "verbosity=2"]) == {"verbosity": 2}  # later wins
    # NAME=VALUE where NAME is no parameter: a string for a string position (Core v30)
    assert named("sendtoaddress", ["bcrt1q=x", "1"]) == {"args": ["bcrt1q=x", 1]}


# -- through a running splitd ---------------------------------------------------------------


def node(datadir: Path, *words: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*SPLITD, "node", *words, "--datadir", str(datadir)],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_named_and_stdin_through_the_command(splitd, datadir: Path):
    splitd().wait_running()
    named_call = node(datadir, "-named", "getblockhash", "height=0")
    assert (named_call.returncode, named_call.stdout.strip()) == (0, GENESIS_HASH)
    from_stdin = node(datadir, "-stdin", "getblockhash", stdin="0\n")
    assert (from_stdin.returncode, from_stdin.stdout.strip()) == (0, GENESIS_HASH)
    header = node(datadir, "-named", "getblockheader", f"blockhash={GENESIS_HASH}", "verbose=false")
    assert header.stdout.strip().startswith("01000000")
    bad = node(datadir, "getblockhash", "abc")
    assert (bad.returncode, bad.stderr.strip()) == (1, "Error parsing JSON: abc")


def test_a_block_too_big_for_a_command_line_goes_in_through_stdin(splitd, datadir: Path):
    """Linux refuses a single argument over 128 KiB; bitcoin-cli's -stdin is the way in."""
    splitd().wait_running()
    big = TransactionOutput(0, Script(b"\x6a" + bytes(150_000)))  # an OP_RETURN of 150 kB
    genesis = Block.parse(bytes.fromhex(node(datadir, "getblock", GENESIS_HASH, "0").stdout))
    base = coinbase(1, 50 * 100_000_000, bytes.fromhex("51"))
    base.vout.append(big)
    mined = block(genesis.header, genesis.header.time + 1, [base])
    hexdata = mined.serialize().hex()
    assert len(hexdata) > 128 * 1024
    with pytest.raises(OSError, match="Argument list too long"):
        node(datadir, "submitblock", hexdata)
    submitted = node(datadir, "-stdin", "submitblock", stdin=hexdata + "\n")
    assert (submitted.returncode, submitted.stdout) == (0, "")  # accepted: nothing printed
    count = json.loads(splitd_cli("node", "getblockcount", "--datadir", str(datadir)).stdout)
    assert count == 1
