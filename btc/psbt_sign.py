"""Finishing PSBT inputs as Core does with no keys (src/script/sign.cpp ProduceSignature
over a PSBT's signature data, src/psbt.cpp FinalizePSBT, src/node/psbt.cpp AnalyzePSBT).

:func:`solve` builds an input's final scriptSig and witness from the signatures and scripts
the PSBT carries: P2PK, P2PKH, P2WPKH, P2SH-P2WPKH, multisig bare or in P2SH, P2WSH or
P2SH-P2WSH, and taproot key-path spends. What it cannot find it names as Core does
(missing pubkeys, signatures, redeem or witness script), which is what ``analyzepsbt``
reports. Taproot script paths are not finished here.

Checking a finished input needs a script interpreter, which lives outside this package: the
caller passes ``verify(tx, index, spent_outputs) -> bool`` (Core's VerifyScript with the
standard flags), so node and wallet each bring their own.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from embit.script import Script, Witness
from embit.transaction import Transaction, TransactionInput

from btc.primitives import hash160, push_data, read_compact_size
from btc.psbt import Psbt
from btc.psbt_records import (
    IN_BIP32_DERIVATION,
    IN_FINAL_SCRIPTSIG,
    IN_FINAL_SCRIPTWITNESS,
    IN_PARTIAL_SIG,
    IN_REDEEM_SCRIPT,
    IN_TAP_KEY_SIG,
    IN_WITNESS_SCRIPT,
)

SpentOutput = tuple[int, bytes]  # (amount, scriptPubKey)
Verify = Callable[[Transaction, int, Sequence[SpentOutput]], bool]
DUMMY_SIGNATURE = b"\x30" + bytes(71)  # Core's DUMMY_SIGNATURE_CREATOR: 72 bytes
DUMMY_SCHNORR = bytes(64)
OP_CHECKMULTISIG = 0xAE
OP_1, OP_16 = 0x51, 0x60
# The input types a final input no longer needs (Core's FromSignatureData clears them).
_PARTIAL = {0x02, 0x03, 0x04, 0x05, 0x06, 0x0A, 0x0B, 0x0C, 0x0D, 0x13, 0x14, 0x15, 0x16}
_PARTIAL |= {0x17, 0x18, 0x1A, 0x1B, 0x1C}


@dataclass
class Solved:
    """Core's SignatureData after ProduceSignature."""

    script_sig: bytes = b""
    witness: list[bytes] = field(default_factory=list)
    solved: bool = False
    missing_pubkeys: list[bytes] = field(default_factory=list)  # key ids (hash160)
    missing_sigs: list[bytes] = field(default_factory=list)
    missing_redeem_script: bytes = b""  # the P2SH hash160
    missing_witness_script: bytes = b""  # the P2WSH sha256


class _Data:
    """What one PSBT input knows (Core's FillSignatureData)."""

    def __init__(self, psbt: Psbt, index: int, dummy: bool) -> None:
        found = psbt.inputs[index]
        self.signatures = {hash160(pub): (pub, sig) for pub, sig in found.of_type(IN_PARTIAL_SIG)}
        self.pubkeys = {hash160(pub): pub for pub, _ in found.of_type(IN_BIP32_DERIVATION)}
        self.pubkeys.update({kid: pub for kid, (pub, _) in self.signatures.items()})
        self.redeem_script = found.get(IN_REDEEM_SCRIPT) or b""
        self.witness_script = found.get(IN_WITNESS_SCRIPT) or b""
        self.tap_key_sig = found.get(IN_TAP_KEY_SIG) or b""
        self.dummy = dummy
        self.result = Solved()

    def sig(self, pub: bytes) -> bytes | None:
        """Core's CreateSig: a signature the PSBT has, a dummy one when sizing, else
        missing."""
        kid = hash160(pub)
        if kid in self.signatures:
            return self.signatures[kid][1]
        if self.dummy:
            return DUMMY_SIGNATURE
        self.result.missing_sigs.append(kid)
        return None

    def script(self, script_hash: bytes) -> bytes | None:
        for script in (self.redeem_script, self.witness_script):
            if script and hash160(script) == script_hash:
                return script
        return None


def _multisig(script: bytes) -> tuple[int, list[bytes]] | None:
    """(m, keys) of a bare multisig script."""
    if len(script) < 3 or script[-1] != OP_CHECKMULTISIG or not OP_1 <= script[0] <= OP_16:
        return None
    keys, at = [], 1
    while at < len(script) - 2 and script[at] in (33, 65):
        keys.append(script[at + 1 : at + 1 + script[at]])
        at += 1 + script[at]
    if at != len(script) - 2 or script[at] - OP_1 + 1 != len(keys):
        return None
    return script[0] - OP_1 + 1, keys


def _step(data: _Data, script: bytes) -> tuple[str, list[bytes]] | None:  # noqa: PLR0911, PLR0912
    """Core's SignStep: (type, stack) for ``script``, or None if it cannot be solved."""
    if len(script) in (35, 67) and script[0] == len(script) - 2 and script[-1] == 0xAC:
        sig = data.sig(script[1:-1])
        return None if sig is None else ("pubkey", [sig])
    if len(script) == 25 and script[:3] == b"\x76\xa9\x14" and script[23:] == b"\x88\xac":
        kid = script[3:23]
        pub = data.pubkeys.get(kid)
        if pub is None:
            data.result.missing_pubkeys.append(kid)
            return None
        sig = data.sig(pub)
        return None if sig is None else ("pubkeyhash", [sig, pub])
    if len(script) == 23 and script[:2] == b"\xa9\x14" and script[22] == 0x87:
        found = data.script(script[2:22])
        if found is None:
            data.result.missing_redeem_script = script[2:22]
            return None
        return "scripthash", [found]
    if len(script) == 22 and script[:2] == b"\x00\x14":
        return "witness_v0_keyhash", [script[2:]]
    if len(script) == 34 and script[:2] == b"\x00\x20":
        found = data.script(hashlib.new("ripemd160", script[2:]).digest())
        if found is None:
            data.result.missing_witness_script = script[2:]
            return None
        return "witness_v0_scripthash", [found]
    if len(script) == 34 and script[:2] == b"\x51\x20":
        sig = data.tap_key_sig or (DUMMY_SCHNORR if data.dummy else None)
        return None if sig is None else ("witness_v1_taproot", [sig])
    multisig = _multisig(script)
    if multisig is not None:
        required, keys = multisig
        sigs: list[bytes] = []
        for key in keys:
            if len(sigs) < required:
                sig = data.sig(key)
                if sig is not None:
                    sigs.append(sig)
        complete = len(sigs) == required
        stack = [b"", *sigs, *[b""] * (required - len(sigs))]
        return ("multisig", stack) if complete else None
    return None


def _push_all(stack: list[bytes]) -> bytes:
    """Core's PushAll: each element as a minimal push (empty -> OP_0)."""
    out = bytearray()
    for item in stack:
        if not item:
            out.append(0)
        elif len(item) == 1 and 1 <= item[0] <= 16:
            out.append(OP_1 - 1 + item[0])
        else:
            out += push_data(item)
    return bytes(out)


def solve(psbt: Psbt, index: int, script_pubkey: bytes, *, dummy: bool = False) -> Solved:
    """Core's ProduceSignature for one input from the PSBT's data; ``dummy`` stands in
    dummy signatures for the missing ones (to size a transaction, as AnalyzePSBT does)."""
    data = _Data(psbt, index, dummy)
    result = data.result
    step = _step(data, script_pubkey)
    stack = step[1] if step else []
    p2sh = False
    subscript = b""
    if step and step[0] == "scripthash":
        subscript = stack[0]
        step = _step(data, subscript)
        stack = step[1] if step else []
        if step and step[0] == "scripthash":
            step = None
        p2sh = True
    witness: list[bytes] = []
    if step and step[0] == "witness_v0_keyhash":
        inner = _step(data, b"\x76\xa9\x14" + stack[0] + b"\x88\xac")
        step = step if inner else None
        witness, stack = (inner[1] if inner else []), []
    elif step and step[0] == "witness_v0_scripthash":
        witness_script = stack[0]
        inner = _step(data, witness_script)
        nested = ("scripthash", "witness_v0_scripthash", "witness_v0_keyhash")
        step = step if inner and inner[0] not in nested else None
        witness, stack = [*(inner[1] if inner else []), witness_script], []
    elif step and step[0] == "witness_v1_taproot" and not p2sh:
        witness, stack = stack, []
    if p2sh:
        stack.append(subscript)
    result.script_sig = _push_all(stack)
    result.witness = witness
    result.solved = step is not None
    return result


def spent_outputs(psbt: Psbt) -> list[SpentOutput]:
    """Every input's spent output as far as known ((0, b"") where not)."""
    found = [psbt.utxo(i) for i in range(len(psbt.tx.vin))]
    return [(0, b"") if o is None else (o.value, o.script_pubkey.data) for o in found]


def _copy(tx: Transaction) -> Transaction:
    vin = [TransactionInput(i.txid, i.vout, sequence=i.sequence) for i in tx.vin]
    return Transaction(version=tx.version, vin=vin, vout=list(tx.vout), locktime=tx.locktime)


def _with_final(psbt: Psbt, index: int, script_sig: bytes, witness: list[bytes]) -> Transaction:
    tx = _copy(psbt.tx)
    tx.vin[index].script_sig = Script(script_sig)
    tx.vin[index].witness = Witness(witness)
    return tx


def final_fields(psbt: Psbt, index: int) -> tuple[bytes, list[bytes]]:
    """An input's final scriptSig and witness stack."""
    found = psbt.inputs[index]
    raw_witness = found.get(IN_FINAL_SCRIPTWITNESS)
    stack: list[bytes] = []
    if raw_witness:
        stream = io.BytesIO(raw_witness)
        stack = [stream.read(read_compact_size(stream)) for _ in range(read_compact_size(stream))]
    return found.get(IN_FINAL_SCRIPTSIG) or b"", stack


def signed_and_verified(psbt: Psbt, index: int, verify: Verify) -> bool:
    """Core's PSBTInputSignedAndVerified."""
    if not psbt.is_final(index) or psbt.utxo(index) is None:
        return False
    script_sig, witness = final_fields(psbt, index)
    return verify(_with_final(psbt, index, script_sig, witness), index, spent_outputs(psbt))


def finalize_input(psbt: Psbt, index: int, verify: Verify) -> bool:
    """Core's SignPSBTInput with no keys: finish the input if its data suffices, dropping
    its partial data as Core does. True if it is (now) final."""
    if psbt.is_final(index):
        return True
    utxo = psbt.utxo(index)
    if utxo is None:
        return False
    solved = solve(psbt, index, utxo.script_pubkey.data)
    if not solved.solved:
        return False
    tx = _with_final(psbt, index, solved.script_sig, solved.witness)
    if not verify(tx, index, spent_outputs(psbt)):
        return False
    found = psbt.inputs[index]
    found.drop(lambda kind: kind not in _PARTIAL)
    if solved.script_sig:
        found.set(IN_FINAL_SCRIPTSIG, solved.script_sig)
    if solved.witness:
        found.set(IN_FINAL_SCRIPTWITNESS, Witness(solved.witness).serialize())
    return True


def finalize(psbt: Psbt, verify: Verify) -> bool:
    """Core's FinalizePSBT: finish every input that can be; True if all are final."""
    complete = True
    for index in range(len(psbt.tx.vin)):
        complete &= finalize_input(psbt, index, verify)
    return complete


def extract(psbt: Psbt) -> Transaction:
    """The network transaction of a finalized PSBT (Core's FinalizeAndExtractPSBT)."""
    tx = _copy(psbt.tx)
    for index, txin in enumerate(tx.vin):
        script_sig, witness = final_fields(psbt, index)
        txin.script_sig = Script(script_sig)
        txin.witness = Witness(witness)
    return tx


# --- AnalyzePSBT ------------------------------------------------------------------------------

ROLES = ("creator", "updater", "signer", "finalizer", "extractor")  # Core's PSBTRole order
MAX_MONEY_SATS = 21_000_000 * 100_000_000


@dataclass
class InputAnalysis:
    has_utxo: bool = False
    is_final: bool = False
    next: str = "extractor"
    missing: Solved | None = None


@dataclass
class Analysis:
    """Core's PSBTAnalysis."""

    inputs: list[InputAnalysis] = field(default_factory=list)
    next: str = "extractor"
    fee: int | None = None
    estimated_vsize: int | None = None
    error: str = ""

    def invalid(self, error: str) -> Analysis:
        """Core's SetInvalid."""
        return Analysis(next="creator", error=error)


def _money(value: int) -> bool:
    return 0 <= value <= MAX_MONEY_SATS


def analyze(  # noqa: PLR0912 (Core's AnalyzePSBT, step by step)
    psbt: Psbt, verify: Verify, vsize: Callable[[Transaction, Sequence[SpentOutput]], int]
) -> Analysis:
    """Core's AnalyzePSBT. ``vsize``: the sigop-adjusted virtual size of a finished
    transaction spending the given outputs."""
    result = Analysis()
    total_in, calc_fee = 0, True
    for index in range(len(psbt.tx.vin)):
        analysis = InputAnalysis()
        result.inputs.append(analysis)
        utxo = psbt.utxo(index)
        if utxo is not None:
            if not _money(utxo.value) or not _money(total_in + utxo.value):
                return result.invalid(f"PSBT is not valid. Input {index} has invalid value")
            total_in += utxo.value
            analysis.has_utxo = True
        else:
            analysis.next = "updater"
            calc_fee = False
        spk = utxo.script_pubkey.data if utxo is not None else b""
        if spk[:1] == b"\x6a" or len(spk) > 10_000:
            return result.invalid(f"PSBT is not valid. Input {index} spends unspendable output")
        if not signed_and_verified(psbt, index, verify):
            solved = solve(psbt, index, spk) if utxo is not None else Solved()
            complete = solved.solved and verify(
                _with_final(psbt, index, solved.script_sig, solved.witness),
                index,
                spent_outputs(psbt),
            )
            if complete:
                analysis.next = "finalizer"
            else:
                analysis.missing = solved
                only_sigs = not (
                    solved.missing_pubkeys
                    or solved.missing_redeem_script
                    or solved.missing_witness_script
                )
                analysis.next = "signer" if only_sigs and solved.missing_sigs else "updater"
        elif utxo is not None:
            analysis.is_final = True
    result.next = min((a.next for a in result.inputs), key=ROLES.index, default="extractor")
    if not calc_fee:
        return result
    total_out = 0
    for out in psbt.tx.vout:
        if not _money(out.value) or not _money(total_out + out.value):
            return result.invalid("PSBT is not valid. Output amount invalid")
        total_out += out.value
    result.fee = total_in - total_out
    sized = _copy(psbt.tx)
    for index, txin in enumerate(sized.vin):
        if psbt.is_final(index):
            script_sig, witness = final_fields(psbt, index)
        else:
            utxo = psbt.utxo(index)
            solved = solve(psbt, index, utxo.script_pubkey.data, dummy=True) if utxo else None
            if solved is None or not solved.solved:
                return result
            script_sig, witness = solved.script_sig, solved.witness
        txin.script_sig = Script(script_sig)
        txin.witness = Witness(witness)
    result.estimated_vsize = vsize(sized, spent_outputs(psbt))
    return result
