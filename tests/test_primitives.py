"""btc.primitives against Bitcoin Core's regtest parameters and known values."""

from __future__ import annotations

import pytest
from embit.ec import PrivateKey
from embit.script import Script, Witness, p2wpkh
from embit.transaction import Transaction, TransactionInput, TransactionOutput

from btc.blocks import (
    Block,
    BlockHeader,
    bits_to_target,
    block_work,
    decode_compact,
    find_witness_commitment,
    genesis_block,
    merkle_root,
    target_to_bits,
    witness_commitment,
    witness_commitment_script,
    witness_merkle_root,
)
from btc.primitives import (
    COIN,
    COINBASE_PREVOUT_INDEX,
    GENESIS_HASH,
    GENESIS_MERKLE_ROOT,
    NULL_HASH,
    REGTEST_BITS,
    DeserializationError,
    bip34_height_script,
    check_bip34,
    coinbase_height,
    compact_size,
    hash160,
    hash_to_hex,
    hex_to_hash,
    is_coinbase,
    median_time_past,
    parse_transaction,
    push_data,
    script_num_decode,
    script_num_encode,
    serialize_transaction,
    sha256d,
    subsidy,
    tx_vsize,
    tx_weight,
    txid,
    wtxid,
)

KEY = PrivateKey(bytes(31) + b"\x01")


def _h(n: int) -> bytes:
    """A distinct 32-byte leaf."""
    return sha256d(n.to_bytes(4, "little"))


# --- genesis ------------------------------------------------------------------------


def test_genesis_hash_and_merkle_root() -> None:
    block = genesis_block()
    assert block.hash == GENESIS_HASH
    assert block.hash == "0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206"
    assert hash_to_hex(block.header.merkle_root) == GENESIS_MERKLE_ROOT
    assert GENESIS_MERKLE_ROOT == "4a5e1e4baab89f3a32518a88c31bc87f618f76673e2cc77ab2127b7afdeda33b"
    assert block.compute_merkle_root() == (block.header.merkle_root, False)
    assert block.header.check_pow()
    assert block.header.bits == REGTEST_BITS
    assert block.header.prev_hash == NULL_HASH
    assert is_coinbase(block.txs[0])
    assert block.txs[0].vout[0].value == 50 * COIN


def test_genesis_coinbase_bytes() -> None:
    """The classic coinbase: 04ffff001d 0104 45<The Times ...>, paying to the 65-byte key."""
    coinbase = genesis_block().txs[0]
    script_sig = coinbase.vin[0].script_sig.data
    assert script_sig.startswith(bytes.fromhex("04ffff001d0104455468652054696d6573"))
    assert script_sig.endswith(b"second bailout for banks")
    assert len(script_sig) == 77
    script_pubkey = coinbase.vout[0].script_pubkey.data
    assert script_pubkey[:2] == bytes.fromhex("4104") and script_pubkey[-1] == 0xAC


def test_genesis_round_trip() -> None:
    raw = genesis_block().serialize()
    assert len(raw) == 285
    again = Block.parse(raw)
    assert again.serialize() == raw
    assert again.hash == GENESIS_HASH
    assert genesis_block() is not genesis_block()  # fresh copies: callers may mutate


# --- header ---------------------------------------------------------------------------


def test_header_round_trip() -> None:
    header = BlockHeader(
        version=0x20000000,
        prev_hash=_h(1),
        merkle_root=_h(2),
        time=1_700_000_000,
        bits=REGTEST_BITS,
        nonce=0xDEADBEEF,
    )
    raw = header.serialize()
    assert len(raw) == 80
    assert BlockHeader.parse(raw) == header
    assert header.hash == sha256d(raw)[::-1].hex()
    assert hex_to_hash(header.hash) == header.hash_bytes
    assert header.prev_hash_hex == hash_to_hex(_h(1))


def test_header_version_is_signed() -> None:
    header = BlockHeader(-1, NULL_HASH, NULL_HASH, 0, REGTEST_BITS, 0)
    assert header.serialize()[:4] == b"\xff\xff\xff\xff"
    assert BlockHeader.parse(header.serialize()).version == -1


@pytest.mark.parametrize(
    "fields",
    [
        {"prev_hash": b"\x00" * 31},
        {"merkle_root": b"\x00" * 33},
        {"time": -1},
        {"nonce": 1 << 32},
        {"version": 1 << 31},
    ],
)
def test_header_rejects_out_of_range_fields(fields: dict) -> None:
    base = dict(version=1, prev_hash=NULL_HASH, merkle_root=NULL_HASH, time=0, bits=0, nonce=0)
    with pytest.raises(ValueError):
        BlockHeader(**{**base, **fields})


def test_header_parse_needs_80_bytes() -> None:
    with pytest.raises(DeserializationError):
        BlockHeader.parse(bytes(79))


def test_check_pow() -> None:
    header = genesis_block().header
    target = bits_to_target(REGTEST_BITS)
    failing = next(
        h
        for n in range(64)
        if not (h := BlockHeader(1, NULL_HASH, NULL_HASH, 0, REGTEST_BITS, n)).check_pow()
    )
    assert int.from_bytes(failing.hash_bytes, "little") > target
    # bits above the regtest limit, negative, zero or overflowing never pass
    for bits in (0x2100FFFF, 0x20FFFFFF, 0x00000000, 0xFF123456, 0x04923456):
        assert not BlockHeader(1, NULL_HASH, NULL_HASH, 0, bits, header.nonce).check_pow()


# --- compact targets and work -------------------------------------------------------


def test_bits_round_trips() -> None:
    assert bits_to_target(0x207FFFFF) == 0x7FFFFF << (8 * (0x20 - 3))
    assert target_to_bits(bits_to_target(0x207FFFFF)) == 0x207FFFFF
    assert bits_to_target(0x1D00FFFF) == 0xFFFF << (8 * (0x1D - 3))
    assert target_to_bits(bits_to_target(0x1D00FFFF)) == 0x1D00FFFF


def test_block_work() -> None:
    assert block_work(0x207FFFFF) == 2
    assert block_work(0x1D00FFFF) == 0x100010001  # mainnet's difficulty-1 work
    assert block_work(0x04923456) == 0  # negative
    assert block_work(0xFF123456) == 0  # overflow
    assert block_work(0) == 0


@pytest.mark.parametrize(
    ("bits", "target", "negative", "overflow", "compact"),
    [  # Bitcoin Core's arith_uint256 tests (SetCompact / GetCompact)
        (0x00000000, 0, False, False, 0),
        (0x00123456, 0, False, False, 0),
        (0x01003456, 0, False, False, 0),
        (0x02000056, 0, False, False, 0),
        (0x03000000, 0, False, False, 0),
        (0x04000000, 0, False, False, 0),
        (0x00923456, 0, False, False, 0),
        (0x01803456, 0, False, False, 0),
        (0x02800056, 0, False, False, 0),
        (0x03800000, 0, False, False, 0),
        (0x04800000, 0, False, False, 0),
        (0x01123456, 0x12, False, False, 0x01120000),
        (0x02123456, 0x1234, False, False, 0x02123400),
        (0x03123456, 0x123456, False, False, 0x03123456),
        (0x04123456, 0x12345600, False, False, 0x04123456),
        (0x05009234, 0x92340000, False, False, 0x05009234),
        (0x20123456, 0x123456 << 232, False, False, 0x20123456),
        (0x01FEDCBA, 0x7E, True, False, None),
        (0x04923456, 0x12345600, True, False, None),
        (0xFF123456, None, False, True, None),
    ],
)
def test_decode_compact_matches_core(
    bits: int, target: int | None, negative: bool, overflow: bool, compact: int | None
) -> None:
    value, is_negative, is_overflow = decode_compact(bits)
    assert (is_negative, is_overflow) == (negative, overflow)
    if target is not None:
        assert value == target
    if compact is not None:
        assert target_to_bits(value) == compact
    if negative or overflow:
        with pytest.raises(ValueError):
            bits_to_target(bits)


def test_target_to_bits_moves_sign_bit_into_exponent() -> None:
    assert target_to_bits(0x80) == 0x02008000
    assert target_to_bits(0x7FFFFF) == 0x037FFFFF
    assert target_to_bits(0x800000) == 0x04008000


# --- merkle trees ----------------------------------------------------------------------


def test_merkle_root_small_cases() -> None:
    a, b, c = _h(1), _h(2), _h(3)
    assert merkle_root([]) == (NULL_HASH, False)
    assert merkle_root([a]) == (a, False)
    assert merkle_root([a, b]) == (sha256d(a + b), False)
    ab, cc = sha256d(a + b), sha256d(c + c)
    assert merkle_root([a, b, c]) == (sha256d(ab + cc), False)  # odd level: last duplicated
    d = _h(4)
    cd = sha256d(c + d)
    assert merkle_root([a, b, c, d]) == (sha256d(ab + cd), False)
    e = _h(5)
    ee = sha256d(e + e)
    eeee = sha256d(ee + ee)
    assert merkle_root([a, b, c, d, e]) == (sha256d(sha256d(ab + cd) + eeee), False)


def test_merkle_mutation_flag_cve_2012_2459() -> None:
    """[a, b, c] and [a, b, c, c] share a root; only the second is flagged as mutated."""
    a, b, c = _h(1), _h(2), _h(3)
    root, mutated = merkle_root([a, b, c])
    assert not mutated
    assert merkle_root([a, b, c, c]) == (root, True)
    assert merkle_root([a, a])[1]
    d = _h(4)
    assert not merkle_root([a, b, c, d, c, d])[1]  # a repeat that is not a sibling pair
    six = [_h(i) for i in range(6)]
    assert merkle_root([*six, six[4], six[5]])[1]  # duplicated pair one level up


# --- script numbers, BIP34 -------------------------------------------------------


@pytest.mark.parametrize(
    ("height", "script"),
    [  # CScript() << height, as Bitcoin Core builds it
        (0, "00"),
        (1, "51"),
        (16, "60"),
        (17, "0111"),
        (127, "017f"),
        (128, "028000"),
        (255, "02ff00"),
        (256, "020001"),
        (32767, "02ff7f"),
        (32768, "03008000"),
        (8388607, "03ffff7f"),
        (8388608, "0400008000"),
    ],
)
def test_bip34_height_script(height: int, script: str) -> None:
    assert bip34_height_script(height).hex() == script
    assert coinbase_height(bytes.fromhex(script)) == height
    # Core's miner appends OP_0: the check is a prefix comparison
    assert check_bip34(bytes.fromhex(script) + b"\x00", height)


def test_check_bip34_is_core_byte_comparison() -> None:
    assert not check_bip34(bytes.fromhex("0101"), 1)  # 1 must be OP_1, not a push of 01
    assert coinbase_height(bytes.fromhex("0101")) == 1  # the lenient decoder still reads it
    assert not check_bip34(bytes.fromhex("020100"), 1)
    assert not check_bip34(b"", 0)
    assert not check_bip34(bytes.fromhex("0112"), 17)
    assert check_bip34(bytes.fromhex("0112ff"), 18)
    assert coinbase_height(b"") is None
    assert coinbase_height(bytes.fromhex("6a")) is None
    assert coinbase_height(bytes.fromhex("03ffff")) is None  # truncated push


@pytest.mark.parametrize(
    ("n", "encoded"),
    [(0, ""), (1, "01"), (-1, "81"), (127, "7f"), (128, "8000"), (-128, "8080"), (-255, "ff80")],
)
def test_script_num(n: int, encoded: str) -> None:
    assert script_num_encode(n).hex() == encoded
    assert script_num_decode(bytes.fromhex(encoded)) == n


def test_script_num_decode_limits() -> None:
    with pytest.raises(ValueError):
        script_num_decode(bytes(5))
    with pytest.raises(ValueError):
        script_num_decode(bytes.fromhex("0100"), require_minimal=True)
    assert script_num_decode(bytes.fromhex("0100")) == 1
    assert script_num_decode(bytes.fromhex("ff00"), require_minimal=True) == 255


def test_push_data_sizes() -> None:
    assert push_data(b"") == b"\x00"
    assert push_data(bytes(75))[:1] == b"\x4b"
    assert push_data(bytes(76))[:2] == b"\x4c\x4c"
    assert push_data(bytes(256))[:3] == b"\x4d\x00\x01"
    assert push_data(bytes(65536))[:5] == b"\x4e\x00\x00\x01\x00"


# --- subsidy and time ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("height", "amount"),
    [
        (0, 50 * COIN),
        (149, 50 * COIN),
        (150, 25 * COIN),
        (299, 25 * COIN),
        (300, 1_250_000_000),
        (150 * 10, (50 * COIN) >> 10),
        (150 * 33 - 1, 1),  # the last satoshi: 5e9 >> 32 == 1
        (150 * 33, 0),
        (150 * 63, 0),
        (150 * 64, 0),  # 64 halvings: Core returns 0 rather than shifting by 64
        (10**9, 0),
    ],
)
def test_subsidy(height: int, amount: int) -> None:
    assert subsidy(height) == amount


def test_median_time_past() -> None:
    assert median_time_past(list(range(1, 12))) == 6
    assert median_time_past([5, 1, 3]) == 3
    assert median_time_past([1, 2]) == 2  # upper middle, as Core's pmedian[(n)/2]
    assert median_time_past([100, *range(1, 12)]) == 6  # only the last 11 count
    assert median_time_past([7]) == 7
    with pytest.raises(ValueError):
        median_time_past([])


# --- transactions and blocks with witnesses ----------------------------------------


def _coinbase(height: int, outputs: list[TransactionOutput]) -> Transaction:
    script_sig = Script(bip34_height_script(height) + b"\x00")
    txin = TransactionInput(
        NULL_HASH, COINBASE_PREVOUT_INDEX, script_sig, witness=Witness([NULL_HASH])
    )
    return Transaction(version=2, vin=[txin], vout=outputs, locktime=0)


def _signed_p2wpkh_spend() -> Transaction:
    pub = KEY.get_public_key()
    spk = p2wpkh(pub)
    tx = Transaction(
        version=2,
        vin=[TransactionInput(_h(7)[::-1], 0)],
        vout=[TransactionOutput(49 * COIN, spk)],
        locktime=0,
    )
    script_code = Script(b"\x76\xa9\x14" + hash160(pub.sec()) + b"\x88\xac")
    sig = KEY.sign(tx.sighash_segwit(0, script_code, 50 * COIN)).serialize() + b"\x01"
    tx.vin[0].witness = Witness([sig, pub.sec()])
    return tx


def _segwit_block() -> Block:
    spend = _signed_p2wpkh_spend()
    payout = TransactionOutput(50 * COIN, p2wpkh(KEY.get_public_key()))
    coinbase = _coinbase(1, [payout])
    root, _ = witness_merkle_root([coinbase, spend])
    coinbase.vout.append(TransactionOutput(0, Script(witness_commitment_script(root))))
    txs = [coinbase, spend]
    merkle, _ = Block(genesis_block().header, txs).compute_merkle_root()
    parent = genesis_block().header.hash_bytes
    for nonce in range(1000):  # each try passes with probability 1/2 at regtest difficulty
        header = BlockHeader(0x20000000, parent, merkle, 1296688603, REGTEST_BITS, nonce)
        if header.check_pow():
            return Block(header, txs)
    raise AssertionError("no nonce found")


def test_segwit_block_round_trip() -> None:
    block = _segwit_block()
    raw = block.serialize()
    again = Block.parse(raw)
    assert again.serialize() == raw
    assert again.hash == block.hash
    assert again.header.check_pow()
    stripped = block.serialize(witness=False)
    assert len(stripped) < len(raw)
    assert block.weight() == 3 * len(stripped) + len(raw)
    assert block.size() == len(raw) and block.stripped_size() == len(stripped)
    spend = again.txs[1]
    assert again.txids()[1] != again.wtxids()[1]  # the witness changes the wtxid only
    assert again.txids()[1] == txid(spend) == spend.txid()[::-1]
    assert again.wtxids()[1] == wtxid(spend)
    assert again.compute_merkle_root() == (again.header.merkle_root, False)


def test_witness_commitment_round_trip() -> None:
    block = _segwit_block()
    coinbase = block.txs[0]
    found = find_witness_commitment(coinbase)
    assert found is not None
    assert found.output_index == 1
    root, mutated = block.compute_witness_merkle_root()
    assert not mutated
    nonce = coinbase.vin[0].witness.items[0]
    assert found.commitment == witness_commitment(root, nonce) == sha256d(root + nonce)
    assert witness_commitment_script(root) == bytes.fromhex("6a24aa21a9ed") + found.commitment
    # the coinbase's own wtxid does not enter the tree: it is replaced by zeros
    assert root == merkle_root([NULL_HASH, wtxid(block.txs[1])])[0]


def test_find_witness_commitment_takes_the_last_match() -> None:
    first = witness_commitment_script(_h(1))
    second = witness_commitment_script(_h(2)) + b"extra"  # trailing bytes are allowed
    short = first[:37]  # under 38 bytes: not a commitment
    outputs = [TransactionOutput(0, Script(s)) for s in (first, second, short)]
    found = find_witness_commitment(_coinbase(5, outputs))
    assert found is not None
    assert found.output_index == 1
    assert found.commitment == second[6:38]
    assert find_witness_commitment(_coinbase(5, [TransactionOutput(0, Script(short))])) is None


def test_transaction_serialization_matches_embit() -> None:
    tx = _signed_p2wpkh_spend()
    assert serialize_transaction(tx) == tx.serialize()
    assert parse_transaction(tx.serialize()).serialize() == tx.serialize()
    stripped = serialize_transaction(tx, witness=False)
    assert tx_weight(tx) == 3 * len(stripped) + len(tx.serialize())
    assert tx_vsize(tx) == -(-tx_weight(tx) // 4)


def test_strict_transaction_parsing() -> None:
    tx = _signed_p2wpkh_spend()
    raw = tx.serialize()
    with pytest.raises(DeserializationError, match="trailing"):
        parse_transaction(raw + b"\x00")
    with pytest.raises(DeserializationError, match="end of data"):
        parse_transaction(raw[:-1])
    legacy = serialize_transaction(tx, witness=False)
    # a non-minimal CompactSize for the input count (fd 0100 instead of 01)
    with pytest.raises(DeserializationError, match="non-canonical"):
        parse_transaction(legacy[:4] + b"\xfd\x01\x00" + legacy[5:])
    # marker and flag, then all witnesses empty: Core's "Superfluous witness record"
    superfluous = legacy[:4] + b"\x00\x01" + legacy[4:-4] + b"\x00" + legacy[-4:]
    with pytest.raises(DeserializationError, match="Superfluous"):
        parse_transaction(superfluous)
    unknown_flag = raw[:5] + b"\x03" + raw[6:]
    with pytest.raises(DeserializationError, match="optional data"):
        parse_transaction(unknown_flag)
    # no inputs and a zero flag byte: Core reads an empty transaction
    empty = parse_transaction(bytes.fromhex("02000000" + "00" + "00" + "00000000"))
    assert empty.vin == [] and empty.vout == []
    assert compact_size(0xFC) == b"\xfc" and compact_size(0xFD) == b"\xfd\xfd\x00"


def test_negative_output_value_survives_parsing() -> None:
    """CAmount is signed: the validator must see -1, not 2**64 - 1 ("bad-txns-vout-negative")."""
    tx = _signed_p2wpkh_spend()
    tx.vout[0].value = -1
    again = parse_transaction(serialize_transaction(tx))
    assert again.vout[0].value == -1
